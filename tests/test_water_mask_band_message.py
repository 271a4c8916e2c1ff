"""A layer given as a water mask that is not one (a JRC Global Surface Water 'occurrence' percent band) is refused
naming the band under its own description and the thresholding fix (the message called it band 'water' and offered
only "give a mask written by `irrmap water mask`")."""

import numpy as np
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main


def _raster(path, arr, description):
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype="uint8",
                       crs="EPSG:4326", transform=from_origin(-59.8, 8.4, 0.00025, 0.00025), nodata=255) as dst:
        dst.write(arr, 1)
        dst.set_band_description(1, description)


def test_occurrence_band_named_and_threshold_fix(tmp_path, capsys):
    occ = np.zeros((40, 40), np.uint8)
    occ[10:20, 10:20] = 93
    _raster(tmp_path / "occ.tif", occ, "occurrence")
    assert main(["-q", "water", "bodies", str(tmp_path / "out"), str(tmp_path / "occ.tif")]) == 2
    err = capsys.readouterr().err
    assert "band 1 ('occurrence', read as the water layer) holds value 93" in err
    assert 'gdal_calc.py -A occurrence.tif --calc="A>50"' in err


def test_mask_band_control(tmp_path, capsys):
    m = np.zeros((40, 40), np.uint8)
    m[10:20, 10:20] = 1
    _raster(tmp_path / "mask.tif", m, "water")
    assert main(["-q", "water", "bodies", str(tmp_path / "out"), str(tmp_path / "mask.tif")]) == 0
