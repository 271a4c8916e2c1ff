"""Every stage of `irrmap run` on a grid above each size-dependent limit (issue 12.1).

The limits: the report's quick-look (900 px a side), the units stage's rasterize chunk and zonal tile
(2048 px), the run's chunk size ([run].chunk_size, set to 256 here), the mapping tile from
[mapping].memory_mb (16 MB gives tiles far smaller than the grid), the writer's 512 px blocks and the
N-score's 101 px window across chunk edges. The default demo (600 x 800) stays under several of them.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import rasterio

from irrmap.app.cli import main
from irrmap.core.grid import Grid

ROWS, COLS = 2100, 480


@pytest.mark.slow
def test_whole_pipeline_on_a_grid_above_every_size_limit(tmp_path):
    d = tmp_path / "big"
    assert main(["-q", "demo", str(d), "--rows", str(ROWS), "--cols", str(COLS), "--seed", "3"]) == 0
    cfg = d / "config.toml"
    text = cfg.read_text()
    text = re.sub(r"chunk_size = \d+", "chunk_size = 256", text)
    text = text.replace("[mapping]\nmemory_mb = 512", "[mapping]\nmemory_mb = 16")
    assert "chunk_size = 256" in text and "memory_mb = 16" in text
    cfg.write_text(text)

    assert main(["-q", "run", str(cfg)]) == 0
    out = d / "output"
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(s["status"] == "ran" for s in manifest["stages"].values())
    assert {"units", "statistics", "suitability", "features", "training.thresholds", "training.pool", "models",
            "mapping", "evaluation"} <= set(manifest["stages"])

    # the report and its map figure exist (the figure's reduction crashed above 900 px); the run report's map is
    # evaluation.map_figure (map.png), the viewer the run writes last
    assert (out / "evaluation" / "report.html").stat().st_size > 0
    assert (out / "evaluation" / "figures" / "map.png").stat().st_size > 0
    assert (out / "view.html").stat().st_size > 0

    # threshold maps meet every county's statistic within half of its largest crop pixel (nearest rule),
    # recomputed here from the map, the cropland fraction and Grid's pixel areas
    grid = Grid.from_raster(out / "units" / "zones.tif")
    with rasterio.open(out / "units" / "zones.tif") as z, rasterio.open(out / "training" / "threshold_sevi.tif") as m, \
            rasterio.open(out / "aligned" / "cropland.tif") as c:
        zones, labels, crop = z.read(1), m.read(1), c.read(1)
    crop_area = np.nan_to_num(crop.astype(np.float64)) * grid.pixel_area()
    units = pd.read_csv(out / "units" / "units.csv", dtype={"code": str}).set_index("zone")
    stats = pd.read_csv(out / "statistics" / "statistics.csv", dtype={"code": str})
    stats = stats[stats["valid"]].set_index("code")["area_m2"]
    mapped = np.bincount(zones.ravel(), weights=(crop_area * (labels == 1)).ravel(), minlength=len(units) + 1)
    largest = np.zeros(len(units) + 1)
    np.maximum.at(largest, zones.ravel(), crop_area.ravel())
    checked = 0
    for zone, code in units["code"].items():
        if code in stats.index and stats[code] <= crop_area[zones == zone].sum():
            assert abs(mapped[zone] - stats[code]) <= 0.5 * largest[zone] + 1e-6, code
            checked += 1
    assert checked >= 20

    # the classifier map covers the grid's cropland: valid wherever cropland > 0
    with rasterio.open(out / "mapping" / "class.tif") as src:
        cls = src.read(1)
        assert src.shape == (ROWS, COLS)
        valid = cls != src.nodata
    assert valid[np.nan_to_num(crop) > 0].all()
    assert 0.05 < (cls[valid] == 1).mean() < 0.95

    # file kinds: the features are tiled GeoTIFFs without overviews (intermediates read at full resolution), the
    # maps the viewer shows are COGs with overviews
    with rasterio.open(out / "features" / "evi_max.tif") as f, rasterio.open(out / "mapping" / "class.tif") as c:
        assert f.profile["tiled"] and f.profile["blockxsize"] == 512 and f.overviews(1) == []
        assert c.overviews(1)
