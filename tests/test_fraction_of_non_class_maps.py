"""A class-count read (kind = 'fraction') of a file that is not a class map is refused (irrmap.core.class_map).

Copying the demo's [inputs.cropland] (kind = "fraction", classes = [1]) onto a cropland that is already a fraction
(float 0..1) or a percent (uint8 0..100) counted the pixels equal to 1: almost none. The run went on silently and
failed a minute later for another reason (statistics "2471x too large", "training pool is empty"). Now the read
itself refuses such a file, naming [inputs.NAME], what the file holds and the fix, in `irrmap run --check` too.

Expected values are computed here by hand or with numpy from the values written (shares, distinct values); class
maps of real products' code layouts (ESA WorldCover, MODIS IGBP, USDA CDL, a float class map) still read, and
their fraction is the hand count of class pixels per 250 m block.
"""

from __future__ import annotations

import logging
import subprocess

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.app.demo import generate_demo
from irrmap.core.class_map import NotAClassMap
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster

RES = 0.0025 / 8  # 8 x 8 source pixels per grid pixel


def _write(path, values: np.ndarray, nodata=None, west=100.0, tiled=False) -> str:
    profile = {"driver": "GTiff", "height": values.shape[0], "width": values.shape[1], "count": 1, "dtype": values.dtype.name,
               "crs": "EPSG:4326", "transform": from_origin(west, 30.0, RES, RES), "nodata": nodata}
    if tiled:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return str(path)


def _grid(shape, west=100.0) -> Grid:
    h, w = shape
    return Grid.from_bounds(west, 30.0 - h * RES, west + w * RES, 30.0, RES * 8, "EPSG:4326")


# ---- the guard on read_raster ---------------------------------------------------------------------------------
def test_float_fraction_read_as_class_counts_is_refused(tmp_path):
    # 64 x 64: a quarter 0.5 (non-integer), the rest 0 or 1: 25.0% non-integer, by construction
    v = np.zeros((64, 64), np.float32)
    v[:32, :32] = 0.5
    v[32:, :] = 1.0
    path = _write(tmp_path / "frac.tif", v, nodata=np.nan)
    with pytest.raises(NotAClassMap) as err:
        read_raster(path, _grid(v.shape), kind="fraction", classes=[1])
    msg = str(err.value)
    assert isinstance(err.value, InputError) and msg.startswith(f"{path}: ")
    assert "non-integer values (25.0% of 4096 sampled valid pixels; values 0..1)" in msg
    assert 'kind = "continuous"' in msg and "scale = 0.01" in msg
    # read as what it is, the grid mean is the hand mean: (0.25 * 0.5 + 0.5 * 1) = 0.625
    assert float(read_raster(path, _grid(v.shape), kind="continuous").mean()) == pytest.approx(0.625)


def test_percent_read_as_class_counts_is_refused(tmp_path):
    r, c = np.mgrid[0:64, 0:64]
    v = ((r * 7 + c * 3) % 101).astype(np.uint8)  # every percent 0..100
    v[0, :5] = 255
    path = _write(tmp_path / "pct.tif", v, nodata=255)
    valid = v[v != 255]
    share = np.mean(valid == 1)  # the asked class 1 among the valid pixels
    assert np.unique(valid).size == 101 and share < 0.05
    with pytest.raises(NotAClassMap) as err:
        read_raster(path, _grid(v.shape), kind="fraction", classes=[1])
    msg = str(err.value)
    assert f"class codes [1], which hold only {share:.2%} of {valid.size} sampled valid pixels" in msg
    assert "the file holds 101 distinct values over 0..100" in msg and "scale = 0.01" in msg


@pytest.mark.parametrize(("codes", "classes"), [
    (np.arange(10, 101, 10), [40]),  # ESA WorldCover: 10 sparse codes, cropland 40
    (np.arange(0, 18), [12, 14]),  # MODIS IGBP: 18 dense codes, croplands 12 and 14
    (np.arange(1, 45), [13]),  # Corine: 44 dense codes, permanently irrigated land 13 on few pixels
    (np.r_[11, 12, 21:25, 31:34, 41:47, 51:54, 61:68, 99], [11]),  # two-digit national codes (CAS LUCC), paddy 11
    (np.r_[1:62:3, 111:196:5][:40], [1]),  # USDA CDL: ~40 codes of 1..254 in a region, corn = 1 on few pixels
])
def test_class_maps_still_read_and_count(tmp_path, codes, classes):
    rng = np.random.default_rng(7)
    v = rng.choice(codes, size=(64, 64)).astype(np.uint8)
    path = _write(tmp_path / "lc.tif", v)
    got = read_raster(path, _grid(v.shape), kind="fraction", classes=classes).values
    hand = np.isin(v, classes).reshape(8, 8, 8, 8).mean(axis=(1, 3))  # members / 64 per 8 x 8 block
    np.testing.assert_allclose(got, hand, rtol=1e-6)


def test_float_class_map_of_whole_numbers_reads(tmp_path):
    v = np.where(np.arange(64 * 64).reshape(64, 64) % 3 == 0, 1.0, 5.0).astype(np.float32)
    v[:8, :8] = np.nan
    path = _write(tmp_path / "lcf.tif", v, nodata=np.nan)
    got = read_raster(path, _grid(v.shape), kind="fraction", classes=[1]).values
    assert np.isnan(got[0, 0]) and got[1, 1] == pytest.approx(np.mean(v[8:16, 8:16] == 1))


def test_classes_absent_from_a_class_map_warn_once(tmp_path, caplog):
    v = np.tile(np.array([10, 20, 30, 50], np.uint8), (64, 16))  # a WorldCover-like map without cropland (40)
    path = _write(tmp_path / "nocrop.tif", v)
    with caplog.at_level(logging.WARNING, logger="irrmap.core.class_map"):
        for _ in range(2):
            assert float(read_raster(path, _grid(v.shape), kind="fraction", classes=[40]).max()) == 0.0
    (msg,) = [r.getMessage() for r in caplog.records if "found in none" in r.getMessage()]
    assert msg.startswith(f"{path}: kind = 'fraction' counts class codes [40], found in none of 4096 sampled valid pixels")
    assert "(the file holds 10, 20, 30, 50)" in msg


def test_large_file_is_sampled_under_the_grid(tmp_path):
    # 2048 x 2048, tiled: left half a class map (codes 1..8), right half a percent layer. The sample (blocks of the
    # file under the grid) sees the percent only when the grid covers the right half.
    r, c = np.mgrid[0:2048, 0:2048]
    v = np.where(c < 1024, 1 + (r + c) % 8, (r * 7 + c * 3) % 101).astype(np.uint8)
    path = _write(tmp_path / "big.tif", v, nodata=255, tiled=True)
    left, right = _grid((2048, 1024)), _grid((2048, 1024), west=100.0 + 1024 * RES)
    got = read_raster(path, left, kind="fraction", classes=[1])
    assert float(got[:4, :4].mean()) == pytest.approx(1 / 8)  # one code in 8 along each diagonal
    with pytest.raises(NotAClassMap, match="distinct values over 0..100"):
        read_raster(path, right, kind="fraction", classes=[1])


# ---- in a run: `irrmap run --check` names [inputs.NAME], exit 2, no traceback -------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, rows=48, cols=64, seed=5, workers=2)
    lc = str(out / "inputs/landcover_30m.tif")
    # the cropland as a percent (uint8, 0..100) and as a fraction (float 0..1), made by GDAL's own tool from a
    # class map: the cropland share of each 8 x 8 block of 30 m pixels (gdalwarp -r average of 0/100 membership)
    subprocess.run(["gdal_calc.py", "--quiet", "-A", lc, "--outfile", str(out / "crop01.tif"), "--calc", "(A==1)*100",
                    "--type", "Float32", "--NoDataValue=-1"], check=True)
    with rasterio.open(lc) as src:
        w, h = src.width // 8, src.height // 8
    for name, ot, extra in (("crop_pct_u8.tif", "Byte", ["-dstnodata", "255"]), ("crop_frac.tif", "Float32", [])):
        tmp = out / f"tmp_{name}"
        subprocess.run(["gdalwarp", "-q", "-r", "average", "-ts", str(w), str(h), "-ot", "Float32", str(out / "crop01.tif"),
                        str(tmp)], check=True)
        calc = "round(A)" if ot == "Byte" else "A/100"
        subprocess.run(["gdal_calc.py", "--quiet", "-A", str(tmp), "--outfile", str(out / name), "--calc", calc, "--type", ot,
                        *(["--NoDataValue=255"] if ot == "Byte" else ["--NoDataValue=-1"])], check=True)
    return out


def _variant(demo, name: str, path) -> str:
    text = (demo / "config.toml").read_text()
    old = '[inputs.cropland]\npath = "inputs/landcover_30m.tif"\nkind = "fraction"\nclasses = [1]'
    assert old in text
    text = text.replace(old, f'[inputs.cropland]\npath = "{path}"\nkind = "fraction"\nclasses = [1]')
    text = text.replace('output_dir = "output"', f'output_dir = "output_{name}"')
    (demo / f"{name}.toml").write_text(text)
    return str(demo / f"{name}.toml")


@pytest.mark.parametrize("file", ["crop_pct_u8.tif", "crop_frac.tif"])
def test_run_check_refuses_a_cropland_that_is_not_a_class_map(demo, capsys, file):
    with rasterio.open(demo / file) as src:  # what the file holds, read with rasterio (the whole file is the sample)
        a = src.read(1, masked=True).compressed().astype(float)
    if file.endswith("u8.tif"):
        holds = f"which hold only {np.mean(a == 1):.2%} of {a.size} sampled valid pixels, while the file holds " \
                f"{np.unique(a).size} distinct values over 0..{a.max():g}"
    else:
        holds = f"non-integer values ({np.mean(a != np.round(a)):.1%} of {a.size} sampled valid pixels"
    cfg = _variant(demo, file.split(".")[0], demo / file)
    assert main(["run", "--check", cfg]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"[inputs.cropland].path = {demo / file}: kind = 'fraction' counts class codes [1]" in err and holds in err
    assert 'kind = "continuous"' in err


def test_run_check_still_passes_the_demo(demo):
    assert main(["run", "--check", str(demo / "config.toml")]) == 0
