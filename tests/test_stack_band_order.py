"""Reflectance stacks whose bands are in another order than declared (irrmap.sources.band_order): NIR and red, or
SWIR1 and SWIR2, holding each other's data under the standard band descriptions (file order, --band-names).

Truth: hand-built spectra (vegetation and soil NIR > red and SWIR1 > SWIR2, USGS spectral library; a lake the land
test leaves out), the correct stack's own result (its water is exactly the lake written into it), and, on real data
(../shared/data, skipped without it), the correct Flathead / Gewata bands, which must pass while the same bands
swapped are refused. Also: `irrmap -q water mask` of a stack with NaN and zero fill prints no RuntimeWarning (0 / 0 in
the snow guard's NDSI, irrmap.sources.screen.snow_test).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.app.cli import main

NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")
# reflectance x 1e4: green vegetation, bare soil, clear water (USGS spectral library shapes)
VEG = (400, 700, 500, 3500, 2000, 900)
SOIL = (900, 1200, 1500, 2000, 2800, 2300)
LAKE = (600, 600, 500, 200, 100, 50)
SIDE, LAKE_ROWS, LAKE_COLS = 60, slice(20, 40), slice(10, 30)  # a 20 x 20 px lake: 400 px x 900 m2 = 0.36 km2


def scene_bands() -> np.ndarray:
    """(6, 60, 60) int16: vegetation on the top half, soil below, a 20 x 20 lake across both."""
    data = np.empty((6, SIDE, SIDE), np.int16)
    for k in range(6):
        data[k, : SIDE // 2], data[k, SIDE // 2:] = VEG[k], SOIL[k]
        data[k, LAKE_ROWS, LAKE_COLS] = LAKE[k]
    return data


def write_stack(path, data, descriptions=NAMES, *, dtype="int16", nodata=-9999, sidecar=None):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=len(data), dtype=dtype,
                       crs="EPSG:32650", transform=Affine(30, 0, 300000, 0, -30, 4200000), nodata=nodata) as dst:
        for i, (band, d) in enumerate(zip(data, descriptions), start=1):
            dst.write(band.astype(dtype), i)
            dst.set_band_description(i, d)
    side = sidecar or {"date": "2020-07-01", "sensor": "LC08", "level": "L2", "scale": 1e-4, "sun_elevation": 60, "sun_azimuth": 135}
    path.with_suffix(".json").write_text(json.dumps(side))
    return path


def swapped(data, a: str, b: str) -> np.ndarray:
    out = data.copy()
    i, j = NAMES.index(a), NAMES.index(b)
    out[[i, j]] = out[[j, i]]
    return out


def run_mask(out, scene, capsys, *extra) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["-q", "water", "mask", str(out), str(scene), *extra])
    return code, capsys.readouterr().err.strip()


def water_band(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


# ---- the physics on hand spectra ------------------------------------------------------------------------------
def test_hand_spectra_in_order_pass_and_swapped_pairs_are_judged_swapped():
    from irrmap.sources.band_order import band_order_evidence

    rows = [VEG] * 800 + [SOIL] * 700 + [LAKE] * 500
    samples = {n: np.array([r[k] for r in rows], float) for k, n in enumerate(NAMES)}
    ok = {(e.high, e.low): e for e in band_order_evidence(samples)}
    assert {k: (e.verdict, e.share, e.n_land) for k, e in ok.items()} == {("nir", "red"): ("ok", 0.0, 1500),
                                                                           ("swir1", "swir2"): ("ok", 0.0, 1500)}
    nr = dict(samples, red=samples["nir"], nir=samples["red"])
    s12 = dict(samples, swir1=samples["swir2"], swir2=samples["swir1"])
    got_nr = {(e.high, e.low): (e.verdict, e.share) for e in band_order_evidence(nr)}
    got_s12 = {(e.high, e.low): (e.verdict, e.share) for e in band_order_evidence(s12)}
    assert got_nr == {("nir", "red"): ("swapped", 1.0), ("swir1", "swir2"): ("ok", 0.0)}  # the land test uses neither pair's order
    assert got_s12 == {("nir", "red"): ("ok", 0.0), ("swir1", "swir2"): ("swapped", 1.0)}
    few = {n: v[:999] for n, v in nr.items()}  # 999 land pixels: too few to judge
    assert [e.verdict for e in band_order_evidence(few)] == ["unknown", "unknown"]


# ---- `irrmap water mask` on synthetic stacks --------------------------------------------------------------------
def test_correct_stack_maps_the_lake(tmp_path, capsys):
    code, err = run_mask(tmp_path / "ok.tif", write_stack(tmp_path / "st.tif", scene_bands()), capsys)
    assert code == 0, err
    expect = np.zeros((SIDE, SIDE), np.uint8)
    expect[LAKE_ROWS, LAKE_COLS] = 1
    np.testing.assert_array_equal(water_band(tmp_path / "ok.tif"), expect)


@pytest.mark.parametrize("pair,method,bands", [(("red", "nir"), "ndwi", (3, 4)), (("swir1", "swir2"), "mndwi", (5, 6))])
def test_swapped_pair_under_standard_descriptions_is_refused(tmp_path, capsys, pair, method, bands):
    bad = write_stack(tmp_path / "bad.tif", swapped(scene_bands(), *pair))
    code, err = run_mask(tmp_path / "m.tif", bad, capsys, "--method", method)
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "bad.tif" in err and all(p in err for p in pair) and "100.0%" in err
    assert f"set_band_description({bands[0]}" in err and f"set_band_description({bands[1]}" in err
    assert not (tmp_path / "m.tif").exists()


def test_the_fix_the_message_gives_repairs_the_stack(tmp_path, capsys):
    """The python -c command of the message, run as given, makes the swapped stack map the correct stack's water."""
    good = write_stack(tmp_path / "good.tif", scene_bands())
    assert run_mask(tmp_path / "good_m.tif", good, capsys)[0] == 0
    bad = write_stack(tmp_path / "bad.tif", swapped(scene_bands(), "red", "nir"))
    code, err = run_mask(tmp_path / "bad_m.tif", bad, capsys)
    assert code == 2
    command = re.search(r'python -c "(.*?)"', err).group(1)
    subprocess.run([sys.executable, "-c", command], check=True, cwd=tmp_path)
    # the descriptions now name what the bands hold; read in that order, the swapped stack is the correct one
    code, err = run_mask(tmp_path / "fixed_m.tif", bad, capsys)
    assert code == 0, err
    np.testing.assert_array_equal(water_band(tmp_path / "fixed_m.tif"), water_band(tmp_path / "good_m.tif"))


# ---- real scenes -------------------------------------------------------------------------------------------------
L8 = "landsat/flathead_lc8_20150604"
EPOCHS = ("landsat/flathead_lt5_19970602", "landsat/flathead_le7_20070505", L8)


@pytest.mark.parametrize("epoch", EPOCHS)
def test_flathead_epochs_pass_with_almost_no_contrary_land_pixel(shared_data, epoch):
    from irrmap.sources import read_scene
    from irrmap.sources.band_order import check_scene_band_order

    evidence = check_scene_band_order(read_scene(shared_data / epoch))
    assert [(e.high, e.low, e.verdict) for e in evidence] == [("nir", "red", "ok"), ("swir1", "swir2", "ok")]
    assert all(e.share < 0.01 and e.n_land > 10_000 for e in evidence)


@pytest.fixture(scope="module")
def flathead_toa(tmp_path_factory):
    """The Flathead 2015 OLI scene as a TOA stack (six bands read by irrmap, float32) with its BQA band."""
    from conftest import SHARED_DATA
    from irrmap.sources import read_scene

    data = SHARED_DATA
    if not (data / L8).is_dir():
        pytest.skip("../shared/data is absent (real-data tests run where it exists, e.g. in CI)")
    scene = read_scene(data / L8)
    bands = np.stack([scene.bands[n].values for n in NAMES]).astype(np.float32)
    bqa = next((data / L8).glob("*_BQA.TIF"))
    with rasterio.open(bqa) as src:
        qa, profile = src.read(1), src.profile
    return bands, qa, profile, tmp_path_factory.mktemp("flathead")


def write_toa_stack(path, bands, qa, profile):
    with rasterio.open(path, "w", driver="GTiff", width=profile["width"], height=profile["height"], count=7, dtype="float32",
                       crs=profile["crs"], transform=profile["transform"], nodata=float("nan")) as dst:
        for i, (band, d) in enumerate(zip([*bands, qa], [*NAMES, "BQA"]), start=1):
            dst.write(band.astype("float32"), i)
            dst.set_band_description(i, d)
    path.with_suffix(".json").write_text(json.dumps({"date": "2015-06-04", "sensor": "LC08", "level": "L1", "scale": 1,
                                                     "sun_elevation": 61.26, "sun_azimuth": 144.28}))
    return path


@pytest.mark.parametrize("pair,method", [(("red", "nir"), "ndwi"), (("swir1", "swir2"), "mndwi")])
def test_flathead_stack_swapped_is_refused_the_correct_one_maps(flathead_toa, capsys, pair, method):
    bands, qa, profile, folder = flathead_toa
    good = write_toa_stack(folder / f"good_{method}.tif", bands, qa, profile)
    code, err = run_mask(folder / f"good_{method}_m.tif", good, capsys, "--method", method)
    assert code == 0, err
    share = float(np.mean(water_band(folder / f"good_{method}_m.tif") == 1))
    assert 0.05 < share < 0.3  # Polson Bay and the reservoirs: the correct stack's water (a fifth of the scene at most)
    i, j = NAMES.index(pair[0]), NAMES.index(pair[1])
    order = list(range(6))
    order[i], order[j] = j, i
    bad = write_toa_stack(folder / f"bad_{method}.tif", bands[order], qa, profile)
    code, err = run_mask(folder / f"bad_{method}_m.tif", bad, capsys, "--method", method)
    assert code == 2 and f"bad_{method}.tif" in err and all(p in err for p in pair)


# ---- tree cover: band files and scene stacks ---------------------------------------------------------------------
GEWATA = ("B1", "B2", "B3", "B4", "B5", "B7")


def test_gewata_bands_pass_and_swapped_files_are_refused(shared_data):
    from irrmap.core.errors import DataError
    from irrmap.mapping.treecover.predict import check_stack_band_order
    from irrmap.mapping.treecover.predictors import open_stack

    files = [shared_data / "treecover/gewata" / f"Gewata{b}.tif" for b in GEWATA]
    check_stack_band_order(open_stack(files, sensor="LT05"))  # TM surface reflectance x 1e4 in order: passes
    swapped_files = [files[k] for k in (0, 1, 3, 2, 4, 5)]  # B4 given where the red file goes
    stack = open_stack(swapped_files, band_names=list(NAMES))
    with pytest.raises(DataError, match=r"GewataB4\.tif.*GewataB3\.tif|GewataB3\.tif.*GewataB4\.tif") as err:
        check_stack_band_order(stack)
    assert "--bands" in str(err.value)


def _treecover_inputs(tmp_path, data):
    """Band files (one per band, reflectance x 1e4) and a percent reference on the same 60 x 60 grid."""
    files = []
    for k, n in enumerate(NAMES):
        files.append(write_stack(tmp_path / f"b_{n}.tif", data[k:k + 1], (n,)))
    ref = np.where(np.arange(SIDE)[:, None] < SIDE // 2, 80, 5) * np.ones((1, SIDE))
    write_stack(tmp_path / "ref.tif", ref[None].astype(np.float32), ("cover",), dtype="float32", nodata=255)
    return files, tmp_path / "ref.tif"


def test_treecover_fit_refuses_band_files_in_another_order(tmp_path, capsys):
    files, ref = _treecover_inputs(tmp_path, scene_bands())
    order = [files[k] for k in (0, 1, 3, 2, 4, 5)]  # the NIR file given as red and the red file as nir
    capsys.readouterr()
    code = main(["-q", "treecover", "fit", str(tmp_path / "model"), "--reference", str(ref), "--bands", *map(str, order),
                 "--band-names", ",".join(NAMES), "--cv-blocks", "300", "--cv-splits", "2", "--trees", "5"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "b_nir.tif" in err and "b_red.tif" in err and "100.0%" in err


def test_treecover_scene_stack_with_swapped_data_is_refused(tmp_path):
    from irrmap.core.errors import DataError
    from irrmap.mapping.treecover.predict import check_stack_band_order
    from irrmap.mapping.treecover.predictors import open_stack

    good = write_stack(tmp_path / "good.tif", scene_bands())
    check_stack_band_order(open_stack([good]))
    bad = write_stack(tmp_path / "bad.tif", swapped(scene_bands(), "swir1", "swir2"))
    with pytest.raises(DataError, match=r"bad\.tif.*swir2 \(band 6\).*swir1 \(band 5\)"):
        check_stack_band_order(open_stack([bad]))


# ---- the NaN / zero-fill warning leak ---------------------------------------------------------------------------
def test_snow_test_on_lazy_zero_fill_warns_nothing():
    import dask.array as da
    import xarray as xr

    from irrmap.sources.screen import snow_test

    z = xr.DataArray(da.from_array(np.array([[0.0, np.nan], [0.5, 0.05]], np.float32), chunks=1), dims=("y", "x"))
    swir = xr.DataArray(da.from_array(np.array([[0.0, np.nan], [0.1, 0.2]], np.float32), chunks=1), dims=("y", "x"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = snow_test(z, z, swir).values
    # NDSI (0.5 - 0.1) / 0.6 = 0.667 > 0.15 with NIR and green 0.5: snow; 0 / 0 and NaN: not snow; NDSI < 0: not snow
    np.testing.assert_array_equal(got, [[False, False], [True, False]])


def test_water_mask_of_stack_with_nan_and_zero_fill_prints_no_runtime_warning(tmp_path, capsys):
    """The probe's EPSG:4326 stack in small: NaN outside the scene and zero fill inside; any RuntimeWarning raised (not
    printed) makes the command fail, so none may reach the user."""
    data = scene_bands().astype(np.float32) / 1e4
    data[:, :, :8] = np.nan  # outside the scene after a warp
    data[:, :5, 8:] = 0.0  # the scene's own zero fill, warped along
    st = write_stack(tmp_path / "w.tif", data, dtype="float32", nodata=None,
                     sidecar={"date": "2020-07-01", "sensor": "LC08", "level": "L2", "scale": 1, "sun_elevation": 60, "sun_azimuth": 135})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        code, err = run_mask(tmp_path / "m.tif", st, capsys)
    assert code == 0, err
    assert "RuntimeWarning" not in err and "invalid value" not in err
