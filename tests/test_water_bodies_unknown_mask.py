"""`irrmap water bodies` on a mask that sees nothing: every pixel unknown (255, declared nodata or not). A probe got
exit 0 and '0 bodies, 0 km2 in all', which reads as 'no water'; `suitability distance` refuses the same raster. Now
exit 2 naming the file. A mask with one clear pixel still gives its bodies (truth: by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main


def _mask(path, values, nodata):
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1], count=1, dtype="uint8",
                       crs="EPSG:32612", transform=from_origin(600_000, 5_400_000, 30, 30), nodata=nodata) as d:
        d.write(values, 1)
    return path


def test_a_mask_without_a_known_pixel_is_refused(tmp_path, capsys):
    for nodata in (255, None):
        m = _mask(tmp_path / f"unknown_{nodata}.tif", np.full((20, 30), 255, np.uint8), nodata)
        assert main(["-q", "water", "bodies", str(tmp_path / f"out_{nodata}"), str(m)]) == 2  # old: 0, "0 bodies"
        err = capsys.readouterr().err
        assert str(m) in err and "no known pixel" in err


def test_one_known_water_pixel_gives_one_body(tmp_path):
    v = np.full((20, 30), 255, np.uint8)
    v[5, 5] = 1
    v[5, 6] = 0
    m = _mask(tmp_path / "one.tif", v, 255)
    assert main(["-q", "water", "bodies", str(tmp_path / "out"), str(m), "--min-area-m2", "0"]) == 0
    table = pd.read_parquet(tmp_path / "out" / "bodies.parquet")
    assert len(table) == 1
