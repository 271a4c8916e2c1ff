"""Error-adjusted areas are in the sampling frame's unit: ha only from the frame's pixel area, never the map's."""

from argparse import Namespace

import numpy as np
import pandas as pd
import pytest
from irrmap.evaluation import confusion
from irrmap.evaluation.design import SampleDesign, design_accuracy
from irrmap.evaluation.design_section import design_section
from irrmap.evaluation.report import Report

from irrmap.app.cli.evaluate_cmd import _design
from irrmap.core.errors import InputError

MAP = np.array([1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1])
REF = np.array([1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1])
H = np.array(["arid"] * 5 + ["humid"] * 7)
SIZES = {"arid": 68.0, "humid": 706.0}


def _tables(unit_area_ha):
    s = pd.DataFrame({"map": MAP, "reference": REF, "zone": H})
    d = design_accuracy(s, SampleDesign("zone", stratum_sizes=SIZES, unit_area_ha=unit_area_ha))
    rep = Report("t")
    out = design_section(rep, d, confusion.accuracy(MAP, REF, (0, 1)), {0: "not", 1: "irr"}, d.design.unit_area_ha, "cmd")
    tables = [b.content[0] for b in rep.sections[0].blocks if b.kind == "table"]
    return next(t for t in tables if "area_proportion" in t.columns), out


def _hand_areas():
    """Stratified totals in frame pixels: sum_h N_h * share_h of reference irrigated, of mapped irrigated."""
    ref = sum(SIZES[h] * np.mean(REF[H == h] == 1) for h in SIZES)
    mapped = sum(SIZES[h] * np.mean(MAP[H == h] == 1) for h in SIZES)
    return ref, mapped


def test_areas_in_ha_from_frame_pixel_area():
    t, out = _tables(0.09)
    ref, mapped = _hand_areas()
    row = t[t["class"] == "irr"].iloc[0]
    assert row["area_ha"] == pytest.approx(ref * 0.09)
    assert row["mapped_area_ha"] == pytest.approx(mapped * 0.09)
    assert out["design"]["frame_pixel_area_ha"] == 0.09


def test_without_frame_unit_areas_stay_in_frame_pixels():
    t, _ = _tables(None)
    ref, mapped = _hand_areas()
    row = t[t["class"] == "irr"].iloc[0]
    assert "area_ha" not in t.columns
    assert row["area_frame_pixels"] == pytest.approx(ref)
    assert row["mapped_area_frame_pixels"] == pytest.approx(mapped)


def _args(**kw):
    base = {"stratum_field": "zone", "inclusion_field": None, "stratum_size": None, "frame_pixel_area": None}
    return Namespace(**(base | kw))


def test_cli_design_options():
    with pytest.raises(InputError, match="not both"):
        _design(_args(inclusion_field="p", stratum_size=["arid=68"]))
    d = _design(_args(stratum_size=["arid=68", "humid=706"], frame_pixel_area=0.0625))
    assert d.unit_area_ha == 0.0625 and d.stratum_sizes == {"arid": 68.0, "humid": 706.0}
    with pytest.raises(InputError):
        _design(_args(stratum_size=["arid=68"], frame_pixel_area=0.0))
