"""Tree-cover inputs in the wrong unit or on another grid: Level-1 digital numbers (and bands scaled as a whole)
into a model fitted on reflectance x 1e4 are refused before any cover is predicted; `treecover change` reads an
epoch B on another grid by nearest neighbour (recorded in the tags, warned about), so its threshold classes and
forest areas equal those of B's own pixels (numpy + pyproj.Geod truth); epochs in different units (fractions
beside percent) and a --scale that leaves almost every pixel missing are refused."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.mapping.treecover.band_product import (
    check_common_factor,
    check_level1,
    common_factor,
    level1_evidence,
)
from irrmap.mapping.treecover.fit import fit_treecover, save_treecover
from irrmap.mapping.treecover.predict import band_medians, predict_treecover
from irrmap.mapping.treecover.predictors import open_stack
from pyproj import Geod, Transformer
from treecover_synthetic import block_mean, scene, write

from irrmap.app.cli import main
from irrmap.core.errors import InputError

DATA = Path("/work/shared/data")
GEWATA = DATA / "treecover" / "gewata"
LANDSAT = DATA / "landsat"
SCENE_ID = "LT50410271997153PAC02"


# ---- predict: bands of another product ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A random forest at 240 m on synthetic reflectance x 1e4 bands named by file number (scene_B1 .. B7)."""
    root = tmp_path_factory.mktemp("tcunits")
    paths, cover = scene(root / "bands", shape=(96, 128), described=False)
    ref = np.repeat(np.repeat(block_mean(cover, 8), 8, 0), 8, 1).astype(np.float32)
    model, card = fit_treecover(open_stack(paths, sensor="LT05"), write(root / "ref.tif", ref), resolution_m=240, cv_block_m=960,
                                cv_splits=4, n_trees=10)
    save_treecover(model, card, root / "model")
    return {"root": root, "paths": paths, "model_dir": root / "model"}


def _as_dn(paths, folder: Path, factor: float, *, stem: str = f"{SCENE_ID}_B{{}}", mtl: bool = True) -> list[Path]:
    """The bands times `factor`, stored as uint8 (nodata 0) under Level-1 scene-id names, with a Level-1 MTL beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for p, n in zip(paths, (1, 2, 3, 4, 5, 7)):
        with rasterio.open(p) as src:
            v = np.nan_to_num(src.read(1) * factor, nan=0.0)
        out.append(write(folder / f"{stem.format(n)}.TIF", np.clip(np.rint(v), 1, 255), dtype="uint8", nodata=0))
    if mtl:
        (folder / f"{SCENE_ID}_MTL.txt").write_text('GROUP = L1_METADATA_FILE\n  GROUP = PRODUCT_METADATA\n    DATA_TYPE = "L1T"\n'
                                                    "  END_GROUP = PRODUCT_METADATA\nEND_GROUP = L1_METADATA_FILE\nEND\n")
    return out


def test_level1_dn_is_refused_with_the_conversion_as_fix(fitted, tmp_path, capsys):
    """DN at 0.07 x the fit's values (every band within the old per-band factor 30; the old code mapped them, exit 0)."""
    dn = _as_dn(fitted["paths"], tmp_path / "l1", 0.07)
    out = tmp_path / "dn.tif"
    code = main(["-q", "treecover", "predict", str(out), str(fitted["model_dir"]), "--bands", *map(str, dn), "--sensor", "LT05",
                 "--no-check"])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists() and "Traceback" not in err
    assert f"{SCENE_ID}_B1.TIF is Landsat Level-1 digital numbers" in err and f"{SCENE_ID}_MTL.txt" in err
    assert "surface reflectance" in err and "fix:" in err
    # 0.07 by construction (uint8 rounding moves the medians by about 1 %)
    assert re.search(r"on the whole 0\.0(69|7|70|71)\d* times the fit's", err), err


def _scaled_bands(fitted, folder, factor):
    """The fit's band files times `factor`, under their own names in `folder` (no MTL, no Landsat ids)."""
    folder.mkdir()
    out = []
    for p in fitted["paths"]:
        with rasterio.open(p) as src:
            out.append(write(folder / p.name, src.read(1) * factor))
    return out


@pytest.mark.parametrize("factor", [0.2, 5.0])
def test_bands_scaled_as_a_whole_are_refused_without_ids(fitted, tmp_path, factor):
    """The same mistake under plain names, no MTL: the common factor (geometric mean of the band ratios) decides."""
    scaled = _scaled_bands(fitted, tmp_path / "plain", factor)
    with pytest.raises(InputError, match="another product or other units") as exc:
        predict_treecover(tmp_path / "x.tif", fitted["model_dir"], open_stack(scaled, sensor="LT05", warn_indices=False), check=False)
    # the factor by construction; the fit's medians are of 240 m cell means, the sample's of 30 m pixels: within 3 %
    assert float(re.search(r"on the whole ([\d.]+) times the fit's", str(exc.value)).group(1)) == pytest.approx(factor, rel=0.03)
    assert exc.value.where == str(scaled[0]) and not (tmp_path / "x.tif").exists()


def test_the_fits_own_bands_pass_quietly(fitted, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        res = predict_treecover(tmp_path / "ok.tif", fitted["model_dir"], open_stack(fitted["paths"], sensor="LT05", warn_indices=False),
                                check=False)
    assert res["path"].is_file() and "on the whole" not in caplog.text and "far outside" not in caplog.text


def test_bands_a_little_off_as_a_whole_warn(fitted, tmp_path, caplog):
    """Bands 0.4 x the fit's (common factor 2.5: between COMMON_WARN and COMMON_REFUSE) are mapped with a warning."""
    dark = _scaled_bands(fitted, tmp_path / "dark", 0.4)
    with caplog.at_level(logging.WARNING):
        res = predict_treecover(tmp_path / "d.tif", fitted["model_dir"], open_stack(dark, sensor="LT05", warn_indices=False), check=False)
    assert res["path"].is_file() and re.search(r"on the whole 0\.4\d* times the fit's", caplog.text)


def test_common_factor_and_level1_names_by_hand():
    assert common_factor([2.0, 8.0], [1.0, 2.0]) == pytest.approx(np.sqrt(2 * 4))
    assert common_factor([2.0, np.nan, 0.0], [1.0, 5.0, 3.0]) == pytest.approx(2.0)
    assert level1_evidence("LC08_L1TP_041027_20150604_20170226_01_T1_B4.TIF").startswith("its name is a Level-1 product id")
    assert level1_evidence("LC08_L2SP_041027_20150604_20200909_02_T1_SR_B4.TIF") is None
    assert level1_evidence("LC08_L1TP_041027_20150604_20170226_01_T1_sr_band4.tif") is None  # ESPA SR keeps the L1 id
    assert level1_evidence("GewataB4.tif") is None


need_real = pytest.mark.skipif(not (GEWATA.is_dir() and LANDSAT.is_dir()), reason="/work/shared/data not available")


@need_real
@pytest.mark.parametrize("scene_dir,files,sensor", [
    ("flathead_lt5_19970602", [f"LT50410271997153PAC02_B{b}.TIF" for b in (1, 2, 3, 4, 5, 7)], "LT05"),
    ("flathead_le7_20070505", [f"LE70410272007125EDC00_B{b}.TIF" for b in (1, 2, 3, 4, 5, 7)], "LE07"),
    ("flathead_lc8_20150604", [f"LC08_L1TP_041027_20150604_20170226_01_T1_B{b}.TIF" for b in (2, 3, 4, 5, 6, 7)], "LC08"),
])
def test_real_level1_scenes_against_gewata_surface_reflectance(scene_dir, files, sensor):
    """The Flathead Level-1 DN of three sensors against the Gewata SR x 1e4 bands' own medians (what a Gewata fit's card
    holds): refused as Level-1; Gewata against itself passes with no warning."""
    gewata = open_stack([GEWATA / f"GewataB{b}.tif" for b in (1, 2, 3, 4, 5, 7)], sensor="LT05", warn_indices=False)
    wanted = band_medians(gewata)
    stack = open_stack([LANDSAT / scene_dir / f for f in files], sensor=sensor, warn_indices=False)
    with pytest.raises(InputError, match="Level-1 digital numbers"):
        check_level1(stack.paths, stack.labels, band_medians(stack), wanted, [f"GewataB{b}.tif" for b in (1, 2, 3, 4, 5, 7)])
    check_common_factor(gewata.paths, gewata.labels, wanted, wanted)  # factor 1: nothing raised


# ---- change: epoch B on another grid -----------------------------------------------------------------------------------
RES, WEST, NORTH, SHAPE = 0.0003, 38.0, 10.0, (60, 80)  # A: geographic 0.0003 deg (~33 m) pixels near 10 N


def _row_areas() -> np.ndarray:
    """Ellipsoidal area of one pixel of each row of A's grid (pyproj.Geod on the outline, parallels densified)."""
    out = []
    for r in range(SHAPE[0]):
        north, south = NORTH - r * RES, NORTH - (r + 1) * RES
        lons = np.linspace(WEST, WEST + RES, 51)
        lon = np.concatenate([lons, lons[::-1]])
        lat = np.concatenate([np.full(lons.size, south), np.full(lons.size, north)])
        out.append(abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0]))
    return np.array(out)


def _patches(seed: int) -> np.ndarray:
    """Blocky percent cover: 4 x 4 pixel patches of 0 or 100 (sharp edges where blending crosses the forest threshold)."""
    rng = np.random.default_rng(seed)
    return np.kron(rng.choice([0, 100], size=(SHAPE[0] // 4, SHAPE[1] // 4)), np.ones((4, 4))).astype(np.float32)


def _geo(path, values):
    return write(path, values, res=RES, origin=(WEST, NORTH), crs="EPSG:4326", nodata=255, dtype="uint8")


UTM, UTM_RES = "EPSG:32637", 30.0


def _utm_epoch(path):
    """Epoch B on its own 30 m UTM 37N grid around A's extent: 4 x 4 pixel patches of 0 or 100 % cover."""
    t = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    xs, ys = t.transform([WEST, WEST + SHAPE[1] * RES], [NORTH - SHAPE[0] * RES, NORTH])
    x0, y0 = np.floor(min(xs) / UTM_RES) * UTM_RES - 90, np.ceil(max(ys) / UTM_RES) * UTM_RES + 90 + 7.0  # off A's lattice
    h, w = int((y0 - min(ys)) / UTM_RES) + 8, int((max(xs) - x0) / UTM_RES) + 8
    rng = np.random.default_rng(2)
    values = np.kron(rng.choice([0, 100], size=(h // 4 + 1, w // 4 + 1)), np.ones((4, 4)))[:h, :w]
    write(path, values, res=UTM_RES, origin=(x0, y0), crs=UTM, nodata=255, dtype="uint8")
    return path, values, x0, y0


def _nearest_by_hand(values, x0, y0) -> np.ndarray:
    """B on A's grid by hand: the B pixel that holds each A pixel's centre (pyproj), as nearest-neighbour warping takes it."""
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    lon, lat = WEST + (cols + 0.5) * RES, NORTH - (rows + 0.5) * RES
    x, y = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(lon, lat)
    return values[np.floor((y0 - y) / UTM_RES).astype(int), np.floor((x - x0) / UTM_RES).astype(int)]


def test_change_reads_b_on_another_grid_by_nearest(tmp_path, caplog):
    """Old code: bilinear blends of 0 and 100 at every patch edge (50 %: forest) made false forest gain and loss."""
    a = _patches(1)
    pa = _geo(tmp_path / "a.tif", a)
    pb, values, x0, y0 = _utm_epoch(tmp_path / "b_utm.tif")
    b = _nearest_by_hand(values, x0, y0)
    areas = _row_areas()[:, None]
    net_truth = float((((b > 30).astype(float) - (a > 30)) * areas).sum())  # forest b - forest a, m2
    with caplog.at_level(logging.WARNING):
        code = main(["-q", "treecover", "change", str(tmp_path / "c.tif"), str(pa), str(pb), "--table", str(tmp_path / "c.csv")])
    assert code == 0
    row = pd.read_csv(tmp_path / "c.csv").iloc[0]
    assert row["forest_net_change_m2"] == pytest.approx(net_truth, rel=1e-6, abs=1.0)
    with rasterio.open(tmp_path / "c.tif") as src:
        classes, tags = src.read(1), src.tags()
    np.testing.assert_array_equal(classes == 8, (a <= 30) & (b > 30))
    np.testing.assert_array_equal(classes == 7, (a > 30) & (b <= 30))
    assert tags["epoch_b_resampling"] == "nearest"
    assert "is not on EPOCH_A's grid (CRS EPSG:32637 against EPSG:4326)" in caplog.text and "by nearest" in caplog.text


def test_change_on_one_grid_is_a_plain_copy(tmp_path, caplog):
    pa, pb = _geo(tmp_path / "a.tif", _patches(1)), _geo(tmp_path / "b.tif", _patches(2))
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "treecover", "change", str(tmp_path / "c.tif"), str(pa), str(pb)]) == 0
    assert "not on EPOCH_A's grid" not in caplog.text
    with rasterio.open(tmp_path / "c.tif") as src:
        assert src.tags()["epoch_b_resampling"] == "none"


# ---- change: units per epoch -------------------------------------------------------------------------------------------
def _float_geo(path, values):
    return write(path, values.astype(np.float32), res=RES, origin=(WEST, NORTH), crs="EPSG:4326")


def _smooth(seed):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(50, 30, SHAPE), 0, 100).round(1)


def test_fractions_beside_percent_are_refused(tmp_path, capsys):
    pa = _float_geo(tmp_path / "a_frac.tif", _smooth(3) / 100)
    pb = _float_geo(tmp_path / "b_pct.tif", _smooth(4))
    out = tmp_path / "c.tif"
    assert main(["-q", "treecover", "change", str(out), str(pa), str(pb), "--scale", "100"]) == 2
    err = capsys.readouterr().err
    assert "different units" in err and "a_frac.tif holds fractions" in err and "b_pct.tif holds percent" in err
    assert "convert EPOCH_A to percent" in err and not out.exists() and "Traceback" not in err
    assert "already look scaled" not in err  # the old, false hint about the percent epoch
    assert main(["-q", "treecover", "change", str(out), str(pa), str(pb)]) == 2  # without --scale: A's fractions refused alone
    assert "EPOCH_A holds fractions" in capsys.readouterr().err


def test_scale_that_leaves_almost_nothing_is_refused(tmp_path, capsys):
    pa, pb = _float_geo(tmp_path / "a.tif", _smooth(3)), _float_geo(tmp_path / "b.tif", _smooth(4))
    assert main(["-q", "treecover", "change", str(tmp_path / "c.tif"), str(pa), str(pb), "--scale", "100"]) == 2
    err = capsys.readouterr().err
    assert "--scale 100 decodes only" in err and "almost every pixel would be missing" in err


def test_both_fractions_with_scale_match_percent(tmp_path):
    """Fractions x 100 give the forest areas of the same covers in percent (numpy + Geod truth)."""
    a, b = _smooth(3), _smooth(4)
    paf, pbf = _float_geo(tmp_path / "af.tif", a / 100), _float_geo(tmp_path / "bf.tif", b / 100)
    assert main(["-q", "treecover", "change", str(tmp_path / "c.tif"), str(paf), str(pbf), "--scale", "100",
                 "--table", str(tmp_path / "c.csv")]) == 0
    row = pd.read_csv(tmp_path / "c.csv").iloc[0]
    areas = _row_areas()[:, None]
    fa = (np.float32(a / 100).astype(np.float64) * 100) > 30  # the stored float32 fractions, decoded
    fb = (np.float32(b / 100).astype(np.float64) * 100) > 30
    assert row["forest_area_a_m2"] == pytest.approx(float((fa * areas).sum()), rel=1e-9)
    assert row["forest_area_b_m2"] == pytest.approx(float((fb * areas).sum()), rel=1e-9)
