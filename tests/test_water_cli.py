"""`irrmap water mask / bodies / change`: the command contract (exit codes, file names, dtypes, values 0/1/255)
on tiny synthetic Landsat Collection 2 Level-2 scenes whose every pixel is known by construction, and the
Flathead epochs (real Level-1 scenes) for the default method.

Truth: the synthetic scenes are written from reflectances chosen here (DN = (reflectance + 0.2) / 2.75e-5, USGS
LSDS-1619) and QA_PIXEL words with the bits of LSDS-1619 (0 fill, 3 cloud, 5 snow, 6 clear, 7 water); the
expected masks, composites, bodies and changes are written out by hand below from the published rules: NDWI =
(green - nir) / (green + nir) > 0 (McFeeters 1996), DEA Waterbodies' frequency > extent / detection, JRC's
permanent = water in every clear observation, scipy.ndimage.label components. For Flathead the 2015 BQA is
decoded here from its bit layout (USGS Landsat Collection 1 Level-1 QA band: 0 fill, 4 cloud, 5-6 cloud, 7-8
shadow, 9-10 snow/ice confidence) independently of irrmap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from irrmap.app.cli import main
from test_sources_landsat import c2_groups, odl

CRS = "EPSG:32611"
T0 = Affine(30, 0, 500000, 0, -30, 5300000)
H, W = 12, 14
#            blue   green  red    nir    swir1  swir2
LAND = (0.05, 0.08, 0.06, 0.30, 0.20, 0.10)
WATER = (0.06, 0.06, 0.04, 0.02, 0.01, 0.005)
CLOUD = (0.50, 0.55, 0.50, 0.45, 0.40, 0.30)  # NDWI > 0: water if the QA were ignored
SNOW = (0.75, 0.80, 0.75, 0.70, 0.05, 0.04)  # NDWI > 0 as well
QA_CLEAR, QA_WATER, QA_CLOUD, QA_SNOW, QA_FILL = 21824, 21952, 22280, 21824 - 64 + 32, 1
LAKE = (slice(1, 6), slice(1, 7))
POND = (slice(9, 11), slice(2, 4))  # 4 pixels, ~3,600 m2: kept at the default 3,125 m2
TINY = (11, 12)  # 1 pixel: dropped at the default minimum area
DIAGONAL = ((10, 6), (11, 7))  # 2 pixels touching at a corner
FILL = (0, 13)
MISSED_SNOW = (0, 9)  # snow that the QA band calls clear: unknown by the snow guard (Fmask's spectral snow test)


def _tif(path, array, dtype, transform=T0):
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[1], height=array.shape[0], count=1, dtype=dtype, crs=CRS,
                      transform=transform, nodata=None) as dst:
        dst.write(array.astype(dtype), 1)


def write_scene(folder, cover: np.ndarray, qa: np.ndarray, transform=T0, stem="LC09_L2SP_041027_20220714_20220716_02_T1"):
    """A Landsat 9 Collection 2 L2SP scene folder: cover is a (H, W) array of 'land', 'water', 'cloud', 'snow',
    'fill'; qa the QA_PIXEL words."""
    folder.mkdir(parents=True)
    spectra = {"land": LAND, "water": WATER, "cloud": CLOUD, "snow": SNOW, "fill": (np.nan,) * 6}
    for k, b in enumerate(range(2, 8)):
        refl = np.vectorize(lambda c: spectra[c][k])(cover).astype(float)
        dn = np.where(np.isnan(refl), 0, np.rint((refl + 0.2) / 2.75e-5))
        _tif(folder / f"{stem}_SR_B{b}.TIF", dn, "uint16", transform)
    _tif(folder / f"{stem}_ST_B10.TIF", np.full(cover.shape, 44000), "uint16", transform)
    _tif(folder / f"{stem}_QA_PIXEL.TIF", qa, "uint16", transform)
    (folder / f"{stem}_MTL.txt").write_text(odl(c2_groups("L2SP", stem), "LANDSAT_METADATA_FILE"))
    return folder


def scene_a():
    cover = np.full((H, W), "land", dtype=object)
    qa = np.full((H, W), QA_CLEAR)
    cover[LAKE], qa[LAKE] = "water", QA_WATER
    cover[POND] = "water"
    cover[TINY] = "water"
    for p in DIAGONAL:
        cover[p] = "water"
    cover[3:5, 5:9], qa[3:5, 5:9] = "cloud", QA_CLOUD  # over the lake's east end and land
    cover[7:9, 10:12], qa[7:9, 10:12] = "snow", QA_SNOW
    cover[FILL], qa[FILL] = "fill", QA_FILL
    cover[MISSED_SNOW] = "snow"
    expected = np.zeros((H, W), np.uint8)
    expected[LAKE] = expected[POND] = expected[TINY] = 1
    for p in DIAGONAL:
        expected[p] = 1
    expected[3:5, 5:9] = expected[7:9, 10:12] = expected[FILL] = expected[MISSED_SNOW] = 255
    return cover, qa, expected


def scene_b():
    """Same grid: the lake is clear everywhere, the pond is dry, a cloud sits on the south-west corner."""
    cover = np.full((H, W), "land", dtype=object)
    qa = np.full((H, W), QA_CLEAR)
    cover[LAKE], qa[LAKE] = "water", QA_WATER
    cover[TINY] = "water"
    for p in DIAGONAL:
        cover[p] = "water"
    cover[6:9, 0:3], qa[6:9, 0:3] = "cloud", QA_CLOUD
    expected = np.zeros((H, W), np.uint8)
    expected[LAKE] = expected[TINY] = 1
    for p in DIAGONAL:
        expected[p] = 1
    expected[6:9, 0:3] = 255
    return cover, qa, expected


def run(argv, capsys=None) -> int:
    return main(["-q", "water", *map(str, argv)])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("irrmap: error:"), err
    return err[0]


@pytest.fixture
def scenes(tmp_path):
    a = write_scene(tmp_path / "a", *scene_a()[:2])
    b = write_scene(tmp_path / "b", *scene_b()[:2], stem="LC09_L2SP_041027_20220815_20220817_02_T1")
    return a, b


def read(path):
    with rasterio.open(path) as src:
        return src.read(), src.profile, src.descriptions


# ---- mask ---------------------------------------------------------------------------------------------------
def test_mask_of_one_scene_is_its_water_map(scenes, tmp_path):
    out = tmp_path / "out" / "mask.tif"
    assert run(["mask", out, scenes[0]]) == 0
    data, prof, desc = read(out)
    assert prof["dtype"] == "uint8" and prof["nodata"] == 255 and prof["count"] == 3
    assert desc == ("water", "detection", "persistence")
    assert prof["crs"].to_epsg() == 32611 and prof["transform"] == T0 and (prof["height"], prof["width"]) == (H, W)
    expected = scene_a()[2]
    np.testing.assert_array_equal(data[0], expected)
    assert set(np.unique(data[0])) == {0, 1, 255}
    np.testing.assert_array_equal(data[1], expected)  # one scene: frequency 0 or 1, detection = water
    np.testing.assert_array_equal(data[2], expected)  # water in its only clear observation: permanent (1)


def test_mask_of_several_scenes_is_the_epoch_composite(scenes, tmp_path):
    out = tmp_path / "mask.tif"
    assert run(["mask", out, *scenes]) == 0
    data, prof, _ = read(out)
    ea, eb = scene_a()[2], scene_b()[2]
    clear = (ea != 255).astype(int) + (eb != 255)
    wet = (ea == 1).astype(int) + (eb == 1)
    freq = np.divide(wet, clear, out=np.zeros(clear.shape), where=clear > 0)
    water = np.where(clear == 0, 255, freq > 0.05)
    np.testing.assert_array_equal(data[0], water)
    np.testing.assert_array_equal(data[1], np.where(clear == 0, 255, freq > 0.10))
    np.testing.assert_array_equal(data[2], np.where(clear == 0, 255, np.where(freq > 0.05, np.where(freq >= 1.0, 1, 2), 0)))
    assert data[0][3, 6] == 1 and data[2][3, 6] == 1  # cloud over the lake in A, clear water in B: water, permanent
    assert data[0][9, 2] == 1 and data[2][9, 2] == 2  # the pond, dry in B: water, seasonal
    assert data[0][FILL] == 0  # fill in A, land in B


def test_mask_method_and_threshold_options(scenes, tmp_path):
    # MNDWI of the land spectrum is (0.08 - 0.20) / 0.28 = -0.43: a threshold of -0.5 makes every clear pixel water
    assert run(["mask", tmp_path / "m.tif", scenes[0], "--method", "mndwi", "--threshold", "-0.5"]) == 0
    band1 = read(tmp_path / "m.tif")[0][0]
    expected = scene_a()[2]
    np.testing.assert_array_equal(band1, np.where(expected == 255, 255, 1))


def test_mask_bad_input_is_one_line_exit_2(scenes, tmp_path, capsys):
    assert run(["mask", tmp_path / "m.tif", tmp_path / "missing"]) == 2
    assert "missing" in one_line_error(capsys)
    (tmp_path / "empty").mkdir()
    assert run(["mask", tmp_path / "m.tif", tmp_path / "empty"]) == 2
    assert "MTL" in one_line_error(capsys)
    assert run(["mask", tmp_path / "m.tif", scenes[0], "--extent", "0.2", "--detection", "0.1"]) == 2
    one_line_error(capsys)
    far = write_scene(tmp_path / "far", *scene_b()[:2], transform=Affine(30, 0, 700000, 0, -30, 5300000),
                      stem="LC09_L2SP_041027_20220815_20220817_02_T1")  # its own id: one id twice is refused as one scene twice
    assert run(["mask", tmp_path / "m.tif", scenes[0], far]) == 2
    assert "does not overlap" in one_line_error(capsys)
    with pytest.raises(SystemExit) as exc:
        run(["mask", tmp_path / "m.tif", scenes[0], "--method", "nope"])
    assert exc.value.code == 2
    assert not (tmp_path / "m.tif").exists()


def test_mask_second_scene_is_read_onto_the_first_grid(scenes, tmp_path):
    shifted = write_scene(tmp_path / "shifted", *scene_b()[:2], transform=T0 * Affine.translation(3, 2),
                          stem="LC09_L2SP_041027_20220815_20220817_02_T1")  # its own id: one id twice is refused as one scene twice
    assert run(["mask", tmp_path / "m.tif", scenes[0], shifted]) == 0
    data, prof, _ = read(tmp_path / "m.tif")
    assert prof["transform"] == T0 and (prof["height"], prof["width"]) == (H, W)
    # B's pixel (r, c) lies under A's pixel (r + 2, c + 3); where B does not reach, only A counts
    eb = np.full((H, W), 255, np.uint8)
    eb[2:, 3:] = scene_b()[2][: H - 2, : W - 3]
    ea = scene_a()[2]
    clear = (ea != 255).astype(int) + (eb != 255)
    water = ((ea == 1).astype(int) + (eb == 1)) > 0
    np.testing.assert_array_equal(data[0], np.where(clear == 0, 255, water))


# ---- bodies -------------------------------------------------------------------------------------------------
def _labels_of(path) -> tuple[np.ndarray, int]:
    with rasterio.open(path) as src:
        lab = src.read(1)
        assert src.dtypes[0] == "uint32" and src.nodata == 0
    return lab, int(lab.max())


def test_bodies_files_and_components(scenes, tmp_path):
    assert run(["mask", tmp_path / "m.tif", scenes[0]]) == 0
    out = tmp_path / "bodies"
    assert run(["bodies", out, tmp_path / "m.tif"]) == 0
    for name in ("bodies.parquet", "bodies.gpkg", "body_id.tif"):
        assert (out / name).is_file()
    lab, n = _labels_of(out / "body_id.tif")
    water = scene_a()[2] == 1
    ref, m = ndimage.label(water, np.ones((3, 3), bool))
    keep = [k for k in range(1, m + 1) if (ref == k).sum() >= 4]  # 4 pixels x ~900 m2 >= 3,125 m2 > 2 pixels
    assert n == len(keep) == 2  # the lake (less the cloud) and the pond
    for k in keep:
        ids = np.unique(lab[ref == k])
        assert len(ids) == 1 and ids[0] > 0
    assert (lab[~np.isin(ref, keep)] == 0).all()
    table = pd.read_parquet(out / "bodies.parquet")
    assert sorted(table["n_pixels"]) == sorted(int((ref == k).sum()) for k in keep)
    lake = table.loc[table["n_pixels"].idxmax()]
    assert lake["unknown_m2"] > 0 and table.loc[table["n_pixels"].idxmin(), "unknown_m2"] == 0  # the cloud touches the lake only


def test_bodies_min_area_and_connectivity(scenes, tmp_path):
    assert run(["mask", tmp_path / "m.tif", scenes[0]]) == 0
    water = scene_a()[2] == 1
    for conn in (8, 4):
        out = tmp_path / f"b{conn}"
        assert run(["bodies", out, tmp_path / "m.tif", "--min-area-m2", "0", "--connectivity", conn]) == 0
        structure = np.ones((3, 3), bool) if conn == 8 else ndimage.generate_binary_structure(2, 1)
        assert _labels_of(out / "body_id.tif")[1] == ndimage.label(water, structure)[1]
    assert _labels_of(tmp_path / "b8" / "body_id.tif")[1] == 4  # lake, pond, tiny pond, the diagonal pair
    assert _labels_of(tmp_path / "b4" / "body_id.tif")[1] == 5  # the diagonal pair splits


def test_bodies_keep_only_bodies_with_a_detection_pixel(scenes, tmp_path):
    # the pond is water in one of two clear observations (frequency 0.5): water at extent 0.05, no detection at 0.6
    assert run(["mask", tmp_path / "m.tif", *scenes, "--detection", "0.6"]) == 0
    assert run(["bodies", tmp_path / "b", tmp_path / "m.tif"]) == 0
    lab, n = _labels_of(tmp_path / "b" / "body_id.tif")
    assert n == 1 and (lab[LAKE] > 0).all() and (lab[POND] == 0).all()
    assert (tmp_path / "b" / "persistence.tif").is_file()


def test_bodies_bad_input_is_one_line_exit_2(tmp_path, capsys):
    _tif(tmp_path / "notmask.tif", np.full((H, W), 7), "uint8")
    assert run(["bodies", tmp_path / "b", tmp_path / "notmask.tif"]) == 2
    assert "7" in one_line_error(capsys)
    assert run(["bodies", tmp_path / "b", tmp_path / "missing.tif"]) == 2
    one_line_error(capsys)
    _tif(tmp_path / "m.tif", np.zeros((H, W)), "uint8")
    assert run(["bodies", tmp_path / "b", tmp_path / "m.tif", "--units", tmp_path / "u.gpkg"]) == 2
    assert "--code-field" in one_line_error(capsys)
    assert run(["bodies", tmp_path / "b", tmp_path / "m.tif", "--min-area-m2", "-1"]) == 2
    one_line_error(capsys)


# ---- change -------------------------------------------------------------------------------------------------
def test_change_rows_and_transitions(tmp_path):
    a = np.zeros((H, W), np.uint8)
    a[1:6, 1:7] = 1  # lake
    a[9:11, 2:4] = 1  # pond, gone in B
    b = np.zeros((H, W), np.uint8)
    b[1:7, 1:8] = 1  # the lake grown
    b[9:11, 10:12] = 1  # a new pond
    b[0, 13] = 255  # unknown in B
    for name, m in (("a", a), ("b", b)):
        with rasterio.open(tmp_path / f"{name}.tif", "w", driver="GTiff", width=W, height=H, count=1, dtype="uint8", crs=CRS,
                           transform=T0, nodata=255) as dst:
            dst.write(m, 1)
        assert run(["bodies", tmp_path / f"bodies_{name}", tmp_path / f"{name}.tif"]) == 0
    assert run(["change", tmp_path / "c", tmp_path / "bodies_a", tmp_path / "bodies_b"]) == 0
    change = pd.read_csv(tmp_path / "c" / "change.csv")
    assert len(change) == 3
    assert sorted(change["status"]) == ["grown", "lost", "new"]
    grown = change[change["status"] == "grown"].iloc[0]
    assert grown["area_b_km2"] / grown["area_a_km2"] == pytest.approx(42 / 30, rel=1e-3)  # pixel areas vary by < 1e-4 here
    with rasterio.open(tmp_path / "c" / "transitions.tif") as src:
        t = src.read(1)
        assert src.dtypes[0] == "uint8" and src.nodata == 255
    expected = np.zeros((H, W), np.uint8)  # JRC: 1 permanent, 2 new permanent, 3 lost permanent, 0 no water
    expected[(a == 1) & (b == 1)] = 1
    expected[(a == 0) & (b == 1)] = 2
    expected[(a == 1) & (b == 0)] = 3
    expected[b == 255] = 255
    np.testing.assert_array_equal(t, expected)


def test_change_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert run(["change", tmp_path / "c", tmp_path / "nope_a", tmp_path / "nope_b"]) == 2
    assert "bodies" in one_line_error(capsys)


# ---- real scenes --------------------------------------------------------------------------------------------
FLATHEAD = ("flathead_lt5_19970602", "flathead_le7_20070505", "flathead_lc8_20150604")


@pytest.mark.realdata
@pytest.mark.slow
def test_flathead_default_method_cloud_snow_never_water_and_epochs_agree(shared_data, tmp_path):
    from irrmap.sources import read_scene

    masks = []
    for name in FLATHEAD:
        folder = shared_data / "landsat" / name
        out = tmp_path / f"{name}.tif"
        assert run(["mask", out, folder]) == 0
        data, prof, _ = read(out)
        band_file = sorted(folder.glob("*_B2.TIF"))[0]
        with rasterio.open(band_file) as src:
            assert (prof["transform"], prof["crs"], prof["height"], prof["width"]) == (src.transform, src.crs, src.height, src.width)
        water = data[0]
        assert set(np.unique(water)) <= {0, 1, 255}
        scene = read_scene(folder)
        # physically: a pixel brighter than 0.3 TOA in blue is cloud, snow or bright land, never open water
        assert not ((scene.bands["blue"].values > 0.3) & (water == 1)).any()
        assert (water[~np.isin(scene.quality.values, (0, 5))] == 255).all()  # cloud, shadow, snow, fill: unknown
        masks.append(water)
    with rasterio.open(sorted((shared_data / "landsat" / FLATHEAD[2]).glob("*_BQA.TIF"))[0]) as src:
        bqa = src.read(1).astype(np.int64)
    conf = lambda bit: (bqa >> bit) & 3  # noqa: E731
    flagged = ((bqa & 1) > 0) | (((bqa >> 4) & 1) > 0) | (conf(5) == 3) | (conf(7) == 3) | (conf(9) == 3)
    assert flagged.mean() > 0.1 and (masks[2][flagged] == 255).all()
    clear = np.all([m != 255 for m in masks], axis=0)
    assert clear.mean() > 0.05
    agree = ((masks[0] == masks[1]) & (masks[1] == masks[2]))[clear].mean()
    assert agree >= 0.95
