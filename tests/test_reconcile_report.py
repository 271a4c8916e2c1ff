"""The reconciliation report's numbers (irrmap.evaluation.reconcile_report): agreement metrics per level against
hand-computed R2, RMSE and bias; flagged units ranked by the area at stake; the largest adjustments; the HTML."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.reconcile_report import (
    flagged_units,
    largest_adjustments,
    metrics_by_level,
    write_reconcile_report,
)
from rasterio.transform import from_origin

from irrmap.core.grid import Grid


def _agreement(mapped_kha):
    return pd.DataFrame({"level": "county", "code": ["a", "b", "c"], "year": 2020, "mapped_m2": np.array(mapped_kha) * 1e7,
                         "statistic_m2": np.array([1.0, 2.0, 3.0]) * 1e7})


def test_metrics_by_level_hand_computed():
    # statistics 1, 2, 3 and mapped 1.2, 2, 2.9 (1000 ha): errors .2, 0, -.1
    # RMSE = sqrt(.05 / 3) = .129099; bias = .1 / 3 = .033333; R2 = sxy^2 / (ssx ssy) = 1.7^2 / (2 x 1.446667) = .998848
    m = metrics_by_level(_agreement([1.2, 2.0, 2.9]), "after").iloc[0]
    assert (m["map"], m["level"], m["n"]) == ("after", "county", 3)
    assert m["RMSE (1000 ha)"] == pytest.approx(0.129099, abs=1e-6)
    assert m["bias (1000 ha)"] == pytest.approx(0.033333, abs=1e-6)
    assert m["R2"] == pytest.approx(0.998848, abs=1e-6)
    assert m["max |error| (1000 ha)"] == pytest.approx(0.2)


AUDIT = pd.DataFrame({"code": ["a", "b", "c"], "level": "county", "year": 2020, "census": [10e6, np.nan, 30e6],
                      "survey": [14e6, np.nan, 30.1e6], "chosen": [10e6, np.nan, 30e6], "source": ["census", "derived", "census"],
                      "area_m2": [10e6, 5e6, 27e6], "rule": ["precedence", "disaggregated", "scaled_to_parent"],
                      "adjustment_m2": [0.0, 5e6, -3e6], "adjustment_pct": [0.0, np.nan, -10.0],
                      "flags": ["sources_disagree", "", np.nan]})


def test_flagged_units_ranked_by_area_at_stake():
    units = pd.DataFrame({"code": ["x", "y"], "level": "county", "year": 2020, "target_m2": [9e6, 1e6], "mapped_m2": [7e6, 1e6],
                          "cropland_m2": [7e6, 5e6], "shortfall_m2": [2e6, 0.0], "status": ["infeasible", "ok"]})
    skipped = pd.DataFrame([{"year": 2020, "code": "p9", "reason": "no statistic at county or province level"}])
    f = flagged_units(units, AUDIT, skipped)
    # a: the survey is 4e6 m2 (0.4 thousand ha) above the chosen census value; x: 2e6 m2 short of cropland
    assert f["code"].tolist() == ["a", "x", "p9"]
    assert f["area at stake (1000 ha)"].tolist()[:2] == pytest.approx([0.4, 0.2])
    assert f["reason"].iloc[0] == "sources disagree beyond the tolerance" and "cropland" in f["reason"].iloc[1]


def test_largest_adjustments_leave_out_unchanged_units():
    top = largest_adjustments(AUDIT)
    assert top["code"].tolist() == ["b", "c"]
    assert top["adjustment (1000 ha)"].tolist() == pytest.approx([0.5, -0.3])


def test_report_html_has_every_part(tmp_path):
    profile = {"driver": "GTiff", "dtype": "uint8", "width": 4, "height": 3, "count": 1, "crs": "EPSG:4326",
               "transform": from_origin(10, 50, 0.1, 0.1), "nodata": 255}
    for name, v in (("before", [[1, 0, 0, 255]] * 3), ("after", [[1, 1, 0, 255]] * 3)):
        with rasterio.open(tmp_path / f"{name}.tif", "w", **profile) as dst:
            dst.write(np.array(v, np.uint8), 1)
    units = pd.DataFrame(columns=["code", "level", "year", "target_m2", "mapped_m2", "cropland_m2", "shortfall_m2", "status"])
    html = write_reconcile_report(tmp_path, agreement=_agreement([1.0, 2.0, 3.0]), before=_agreement([1.2, 2.0, 2.9]), audit=AUDIT,
                                  units=units, skipped=pd.DataFrame(), run_class=tmp_path / "before.tif",
                                  grid=Grid.from_raster(tmp_path / "before.tif"), classes={2020: tmp_path / "after.tif"},
                                  command="irrmap reconcile c.toml").read_text()
    for part in ("before and after", "Flagged units", "Largest adjustments", "Change the reconciliation made", "data:image/png;base64",
                 "irrmap reconcile c.toml"):
        assert part in html
