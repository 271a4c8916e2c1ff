"""The two design routes of the design-based accuracy (given stratum sizes, or inclusion probabilities) estimate
over one population: the part of the frame the used points represent. Given sizes count the whole frame stratum,
so when points fall off the map's valid area (nodata, off the grid) the sizes are scaled by the stratum's used share.

Truth: Olofsson et al. (2014, Remote Sens. Environ. 148:42-57), worked example (Tables 8-9): sample counts by map
stratum, mapped areas 200,000 / 150,000 / 3,200,000 / 6,450,000 pixels of 0.09 ha, published error-adjusted areas
21,158 / 11,686 / 285,770 / 581,386 ha and overall accuracy 0.947.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.design import SampleDesign, design_accuracy
from irrmap.evaluation.workflow import points_accuracy
from rasterio.transform import from_origin

OLOFSSON = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]  # rows map stratum, columns reference
MAPPED = [200_000, 150_000, 3_200_000, 6_450_000]  # pixels
PUBLISHED_HA = [21_158, 11_686, 285_770, 581_386]


def _olofsson_points():
    rows = [(str(h), h, j) for h, r in enumerate(OLOFSSON) for j, c in enumerate(r) for _ in range(c)]
    used = pd.DataFrame(rows, columns=["stratum", "map", "reference"])
    # a fifth more points per stratum fell off the map's valid area: the frame is 1.2 x the mapped strata
    off = pd.DataFrame([(str(h), -1, -1) for h, r in enumerate(OLOFSSON) for _ in range(sum(r) // 5)], columns=used.columns)
    return used, pd.concat([used, off], ignore_index=True)


def test_given_sizes_and_inclusion_probabilities_agree_with_olofsson():
    used, every = _olofsson_points()
    frame = {str(h): 1.2 * n for h, n in enumerate(MAPPED)}
    n_all = every["stratum"].value_counts()
    sizes = design_accuracy(used, SampleDesign("stratum", stratum_sizes=frame), [0, 1, 2, 3], all_points=every)
    pi = used.assign(pi=[n_all[s] / frame[s] for s in used["stratum"]])
    ht = design_accuracy(pi, SampleDesign("stratum", inclusion_field="pi"), [0, 1, 2, 3], all_points=pi)
    for est in (sizes.estimate, ht.estimate):
        assert [est.area[c] * 0.09 for c in range(4)] == pytest.approx(PUBLISHED_HA, abs=1.0)
        assert est.overall_accuracy == pytest.approx(0.947, abs=5e-4)
    assert sizes.strata["share_of_points_used"].tolist() == pytest.approx([1 / 1.2] * 4, rel=0.01)
    # before: the given sizes counted the off-map fifth too (25,389 ha of class 0 for 21,158)
    old = design_accuracy(used, SampleDesign("stratum", stratum_sizes=frame), [0, 1, 2, 3])
    assert old.estimate.area[0] * 0.09 == pytest.approx(1.2 * PUBLISHED_HA[0], rel=1e-3)


def test_points_on_map_nodata_same_area_both_routes(tmp_path):
    """A 10 x 10 map whose left 4 columns are nodata; 2 strata (rows 0-4, 5-9), one point per pixel centre, so the
    frame stratum holds 50 pixels of which 30 are on the map: both routes must estimate over those 30 per stratum."""
    v = np.zeros((10, 10), np.uint8)
    v[:, 7:] = 1
    v[:, :4] = 255
    path = tmp_path / "m.tif"
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(10, 50, 0.01, 0.01), nodata=255) as d:
        d.write(v, 1)
    r, c = np.indices((10, 10)).reshape(2, -1)
    pts = pd.DataFrame({"lon": 10 + (c + 0.5) * 0.01, "lat": 50 - (r + 0.5) * 0.01, "label": (c >= 6).astype(int),
                        "stratum": np.where(r < 5, "a", "b"), "pi": 1.0})
    pts.to_csv(tmp_path / "p.csv", index=False)
    kw = {"label_field": "label"}
    a = points_accuracy(path, tmp_path / "p.csv", design=SampleDesign("stratum", stratum_sizes={"a": 50, "b": 50}), **kw)
    b = points_accuracy(path, tmp_path / "p.csv", design=SampleDesign("stratum", inclusion_field="pi"), **kw)
    # by hand: 60 valid pixels, reference irrigated in columns 6-9 (40 pixels), mapped irrigated in columns 7-9 (30)
    for res in (a, b):
        est = res.design.estimate
        assert est.total == pytest.approx(60)
        assert est.area[1] == pytest.approx(40) and est.overall_accuracy == pytest.approx(50 / 60)
