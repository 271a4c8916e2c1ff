"""Rasters inside a .zip given as GDAL /vsizip/ names (`/vsizip//abs/b.zip/x.tif`, as `gdalinfo` reads them) give the
results of the same files unzipped, in every command: `evaluate compare`, `evaluate points`, `treecover change`,
`features composite` said "not found" (a Path(...).is_file() check) and `water bodies` said "does not exist" (Path()
had turned '/vsizip//tmp/b.zip' into '/vsizip/tmp/b.zip', relative to the current directory)."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main


def _tif(path, a, nodata=255):
    with rasterio.open(path, "w", driver="GTiff", width=a.shape[1], height=a.shape[0], count=1, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000, 4000000, 250, 250), nodata=nodata) as d:
        d.write(a, 1)
    return path


def _zip(tmp_path, *files):
    z = tmp_path / "b.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in files:
            zf.write(f, f.name)
    return z


def _vsi(z, f):
    return f"/vsizip/{z}/{f.name}"  # z is absolute: /vsizip//tmp/.../b.zip/x.tif


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(1)
    d = tmp_path / "plain"
    d.mkdir()
    a = _tif(d / "a.tif", rng.integers(0, 2, (30, 40)).astype("uint8"))
    b = _tif(d / "b.tif", rng.integers(0, 2, (30, 40)).astype("uint8"))
    water = np.zeros((30, 40), np.uint8)
    water[5:9, 5:12] = 1
    water[20:25, 25:30] = 1
    w = _tif(d / "water.tif", water)
    c95 = _tif(d / "c95.tif", rng.integers(0, 101, (30, 40)).astype("uint8"))
    c20 = _tif(d / "c20.tif", np.clip(c95_values := rng.integers(0, 101, (30, 40)), 0, 100).astype("uint8"))
    del c95_values
    return tmp_path, {"a": a, "b": b, "water": w, "c95": c95, "c20": c20}


def test_compare_and_treecover_change_read_zipped_rasters(files, capsys):
    tmp_path, f = files
    z = _zip(tmp_path, *f.values())
    assert main(["-q", "evaluate", "compare", str(f["a"]), str(f["b"]), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["-q", "evaluate", "compare", _vsi(z, f["a"]), _vsi(z, f["b"]), "--json"]) == 0
    zipped = json.loads(capsys.readouterr().out)
    assert zipped["agreement_matrix_m2"] == plain["agreement_matrix_m2"] and zipped["kappa"] == plain["kappa"]
    assert main(["-q", "treecover", "change", str(tmp_path / "p.tif"), str(f["c95"]), str(f["c20"])]) == 0
    assert main(["-q", "treecover", "change", str(tmp_path / "z.tif"), _vsi(z, f["c95"]), _vsi(z, f["c20"])]) == 0
    with rasterio.open(tmp_path / "p.tif") as p, rasterio.open(tmp_path / "z.tif") as q:
        assert np.array_equal(p.read(), q.read())


def test_water_bodies_read_a_zipped_mask(files):
    tmp_path, f = files
    z = _zip(tmp_path, f["water"])
    assert main(["-q", "water", "bodies", str(tmp_path / "wp"), str(f["water"])]) == 0
    assert main(["-q", "water", "bodies", str(tmp_path / "wz"), _vsi(z, f["water"])]) == 0
    p, q = gpd.read_file(tmp_path / "wp" / "bodies.gpkg"), gpd.read_file(tmp_path / "wz" / "bodies.gpkg")
    assert len(p) == len(q) == 2
    assert np.allclose(sorted(p["area_m2"]), sorted(q["area_m2"]))
    # by hand: 28 and 25 pixels of 250 m x 250 m (UTM; irrmap's ellipsoidal area is within 0.5 % of the grid's)
    assert np.allclose(sorted(q["area_m2"]), [25 * 62500, 28 * 62500], rtol=5e-3)


def test_features_composite_reads_a_zipped_stack(tmp_path):
    demo = tmp_path / "d"
    assert main(["-q", "demo", str(demo), "--rows", "48", "--cols", "56"]) == 0
    stack = demo / "inputs" / "modis" / "ndvi.tif"
    z = _zip(tmp_path, stack)
    assert main(["-q", "features", "composite", str(tmp_path / "p.tif"), str(stack), "--preset", "mod13q1"]) == 0
    assert main(["-q", "features", "composite", str(tmp_path / "z.tif"), _vsi(z, stack), "--preset", "mod13q1"]) == 0
    with rasterio.open(tmp_path / "p.tif") as p, rasterio.open(tmp_path / "z.tif") as q:
        a, b = p.read(1), q.read(1)
        with rasterio.open(stack) as s:  # by hand: the annual maximum of the decoded stack (x 1e-4), fills left out
            raw = s.read().astype(np.float64)
        v = np.where((raw >= -2000) & (raw <= 10000), raw * 1e-4, np.nan)
    assert np.array_equal(a, b, equal_nan=True)
    want = np.nanmax(v, axis=0)
    both = np.isfinite(a) & np.isfinite(want)
    assert both.mean() > 0.9 and np.allclose(a[both], want[both], atol=1e-6)
