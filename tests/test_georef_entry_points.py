"""Every command checks a raster's georeference before it builds a grid from it (irrmap.core.georef.grid_of runs
check_georef, as Grid.from_raster does), and a projected grid's pixels off the Earth hold no water.

- `irrmap suitability distance` on a file with neither CRS nor geotransform crashed with rasterio's CRSError
  (exit 1): its valid-share guard built a Grid before any reader checked the file.
- A lon/lat-swapped EPSG:4326 raster (latitudes -99.5..-99) got "has no valid pixel" and a RuntimeWarning (row
  areas NaN past the pole): now refused as reaching beyond the poles, with the gdal_translate -a_ullr fix.
- A grads raster (EPSG:4807) was located at "crs:" instead of the file.
- `[grid] like` at a swapped / no-geotransform / LOCAL_CS raster lost the specific fix for a generic one.
- A MODIS sinusoidal tile whose water lies only off the Earth gave "distance to water (8182 water pixels)", exit 0,
  NaN everywhere; `water bodies` reported bodies of 0 m2 without a word.

Which pixels of the sinusoidal tile are off the Earth is computed here by hand: on the sphere of radius R
(MODIS's 6,371,007.181 m), a point (x, y) of the sinusoidal projection is on the Earth iff |y| <= R pi / 2 and
|x| <= R pi cos(y / R) (Snyder 1987, Map Projections: A Working Manual, p. 243: x = R lon cos(lat), y = R lat).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from irrmap.app.cli import main
from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError, InputError

SWAP = Affine(0.01, 0.0, 38.0, 0.0, -0.01, -99.0)  # origin (38, -99): x is a latitude, y a longitude
R_MODIS = 6371007.181  # m, the MODIS sinusoidal sphere (SR-ORG:6842)
SINU = CRS.from_proj4(f"+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R={R_MODIS} +units=m +no_defs")
H09V02 = Affine(11119.5, 0.0, -10007554.676, 0.0, -11119.5, 7783653.637)  # 100 x 100 pixels of 11,119.5 m


def _write(path, data, crs=None, transform=None, nodata=255):
    kw = {} if transform is None else {"transform": transform}
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1, dtype=data.dtype,
                       crs=crs, nodata=nodata, **kw) as dst:
        dst.write(data, 1)
    return str(path)


def _mask(n=50):
    a = np.zeros((n, n), np.uint8)
    a[10:20, 10:20] = 1
    return a


def _off_earth_by_hand(transform, n):
    cols, rows = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    x, y = transform * (cols, rows)
    return (np.abs(y) > R_MODIS * np.pi / 2) | (np.abs(x) > R_MODIS * np.pi * np.cos(y / R_MODIS))


def _refused(capsys, argv, *needles):
    with _no_runtime_warning():
        code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "RuntimeWarning" not in err
    for n in needles:
        assert n in err, err
    return err


class _no_runtime_warning:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings(record=True)
        self._rec = self._cm.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)
        assert not [w for w in self._rec if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in self._rec]


def test_distance_on_a_raster_without_crs_and_geotransform(tmp_path, capsys):
    src = _write(tmp_path / "nogt.tif", _mask())
    _refused(capsys, ["suitability", "distance", src, str(tmp_path / "d.tif")], src, "no CRS and no geotransform",
             "-a_srs", "-a_ullr")
    assert not (tmp_path / "d.tif").exists()


def test_distance_on_a_lon_lat_swapped_raster(tmp_path, capsys):
    src = _write(tmp_path / "swap.tif", _mask(), "EPSG:4326", SWAP)
    err = _refused(capsys, ["suitability", "distance", src, str(tmp_path / "d.tif")], src, "beyond the poles",
                   "latitudes -99.5 to -99", "gdal_translate -a_ullr")
    assert "no valid pixel" not in err


def test_overlay_checks_every_factor_before_measuring_it(tmp_path, capsys):
    ok = [_write(tmp_path / f"ok{k}.tif", _mask() * k, "EPSG:4326", Affine(0.01, 0, 38, 0, -0.01, 10)) for k in (1, 2, 3, 4)]
    bad = _write(tmp_path / "nogt.tif", _mask())
    argv = ["suitability", "overlay", "--zones", ok[0], "--elevation", bad, "--slope", ok[1], "--distance", ok[2], "--aridity",
            ok[3], str(tmp_path / "s.tif")]
    _refused(capsys, argv, bad, "-a_ullr")


def test_distance_on_a_grads_raster_names_the_file(tmp_path, capsys):
    src = _write(tmp_path / "grads.tif", _mask(), "EPSG:4807", Affine(0.01, 0, 2.0, 0, -0.01, 50.0))
    err = _refused(capsys, ["suitability", "distance", src, str(tmp_path / "d.tif")], f"{src}: ", "grads", "gdalwarp -t_srs EPSG:4326")
    assert "crs: " not in err


def test_band_shares_refuses_before_building_a_grid(tmp_path):
    from irrmap.core.valid_share import band_shares

    src = _write(tmp_path / "nogt.tif", _mask())
    with pytest.raises(InputError, match="no CRS and no geotransform") as info:
        band_shares(src)
    assert info.value.where == src


@pytest.mark.parametrize("case, needles", [
    ("swap", ("beyond the poles", "gdal_translate -a_ullr")),
    ("crs_no_gt", ("no geotransform", "gdal_translate -a_ullr")),
    ("local", ("has no datum", "gdal_edit.py -a_srs")),
])
def test_grid_like_keeps_the_specific_fix(tmp_path, case, needles):
    if case == "swap":
        src = _write(tmp_path / "g.tif", _mask(), "EPSG:4326", SWAP)
    elif case == "crs_no_gt":
        src = _write(tmp_path / "g.tif", _mask(), "EPSG:4326")
    else:
        src = _write(tmp_path / "g.tif", _mask(), CRS.from_wkt('LOCAL_CS["arbitrary",UNIT["metre",1],AXIS["Easting",EAST],'
                                                               'AXIS["Northing",NORTH]]'), Affine(250, 0, 1000, 0, -250, 2000))
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[grid]\nlike = "{src}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(cfg).grid()
    msg = str(info.value)
    assert src in msg and "GDAL can read" not in msg
    for n in needles:
        assert n in msg, msg


def _sinusoidal_tile(tmp_path, name, on_earth_water: int):
    off = _off_earth_by_hand(H09V02, 100)
    assert off.sum() == 8182  # the count Grid.off_earth_pixels gives this tile (hand rule above)
    a = off.astype(np.uint8)  # water exactly where the tile is off the Earth
    on_r, on_c = np.nonzero(~off)
    a[on_r[:on_earth_water], on_c[:on_earth_water]] = 1
    return _write(tmp_path / name, a, SINU, H09V02), off


def test_distance_refuses_water_only_off_the_earth(tmp_path, capsys):
    src, _ = _sinusoidal_tile(tmp_path, "off.tif", 0)
    _refused(capsys, ["suitability", "distance", src, str(tmp_path / "d.tif")], src, "no water pixel on the Earth",
             "8182 water pixels")
    assert not (tmp_path / "d.tif").exists()


def test_distance_counts_water_on_the_earth_only(tmp_path, capsys, caplog):
    src, off = _sinusoidal_tile(tmp_path, "off1.tif", 1)
    with caplog.at_level(logging.WARNING):
        assert main(["suitability", "distance", src, str(tmp_path / "d.tif")]) == 0
    assert "distance to water (1 water pixels)" in capsys.readouterr().out
    assert any("8182 of its 8183 water pixels lie off the Earth" in r.getMessage() for r in caplog.records)
    with rasterio.open(tmp_path / "d.tif") as d:
        dist = d.read(1)
    assert np.isnan(dist[off]).all() and np.isfinite(dist[~off]).all()


def test_water_bodies_warns_of_bodies_off_the_earth(tmp_path, caplog):
    src, _ = _sinusoidal_tile(tmp_path, "off.tif", 0)
    with caplog.at_level(logging.WARNING):
        assert main(["water", "bodies", str(tmp_path / "wb"), src, "--min-area-m2", "0"]) == 0
    assert any("lie wholly off the Earth" in r.getMessage() and "(8182 pixels)" in r.getMessage() for r in caplog.records)
