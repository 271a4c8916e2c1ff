"""Tree-cover inputs of the wrong kind (probe s39 C, findings 2-4), each checked against independent truth:

- `treecover change` refuses an epoch that is a code layer, not percent cover: the Hansen GFC lossyear layer (by
  name, and by its values 0..23 beside treecover2000 up to 100 once the name is gone), a class map with a colour
  table (Copernicus LC100) and an irrmap change map. The right way (later cover derived from treecover2000 and
  lossyear) gives the forest loss that numpy and pyproj.Geod compute from the real 20N_080W tiles.
- `treecover fit` / `predict` refuse a --sensor that contradicts the Landsat product id of the file names, and
  predict refuses LC08-named files matched by band number to a model fitted on TM band numbers.
- `treecover trend` refuses the MOD13Q1 JPEG2000 NDVI series decoded to impossible NDVI (65531 fill x 1e-4 =
  6.55); with --preset mod13q1 its slope at pixel (27, 51) is scipy.stats.theilslopes of the int16-decoded,
  fill- and range-masked values.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from treecover_synthetic import block_mean, scene, write

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.mapping.treecover.codes import looks_like_codes
from irrmap.mapping.treecover.fit import fit_treecover, save_treecover
from irrmap.mapping.treecover.predictors import open_stack

DATA = Path("/work/shared/data")
T = DATA / "treecover"
TC2000 = T / "Hansen_GFC-2023-v1.11_treecover2000_20N_080W.tif"
LOSSYEAR = T / "Hansen_GFC-2023-v1.11_lossyear_20N_080W.tif"
LC100 = T / "W080N20_LC100_v3.0.1_2015.tif"
JP2 = DATA / "modis" / "sinop_mod13q1_jp2"
L8_STEM = "LC08_L1TP_041027_20150604_20170226_01_T1_sr_band{}"

need_gfc = pytest.mark.skipif(not (TC2000.is_file() and LOSSYEAR.is_file()), reason="Hansen GFC tiles not available")


def _change(tmp_path, a, b, *extra):
    return main(["-q", "treecover", "change", str(tmp_path / "c.tif"), str(a), str(b), "--table", str(tmp_path / "c.csv"), *extra])


# ---- finding 2: epochs that are code layers -------------------------------------------------------------
@need_gfc
def test_gfc_lossyear_by_name_is_refused(tmp_path, capsys):
    assert _change(tmp_path, TC2000, LOSSYEAR) == 2  # old code: rc 0 and 100 % of the 2000 forest "lost"
    err = capsys.readouterr().err
    assert LOSSYEAR.name in err and "loss-year" in err and "gdal_calc.py" in err and "Traceback" not in err
    assert not (tmp_path / "c.csv").exists()


@need_gfc
def test_lossyear_values_beside_full_cover_are_refused(tmp_path, capsys):
    """The loss years renamed and undescribed: the values 0..23 beside cover up to 100 still give it away."""
    renamed = tmp_path / "epoch2023.tif"
    shutil.copy(LOSSYEAR, renamed)
    with rasterio.open(renamed, "r+") as dst:
        dst.set_band_description(1, "")
    assert _change(tmp_path, TC2000, renamed) == 2
    err = capsys.readouterr().err
    assert "epoch2023.tif" in err and "0..23" in err and "reaches 100" in err


def test_code_layer_rule_by_hand():
    assert looks_like_codes(np.array([0, 0, 1, 5, 23], float))
    assert not looks_like_codes(np.array([0, 10, 25, 60], float))  # cover beyond 30 %
    assert not looks_like_codes(np.array([0, 0, 12.5, 3], float))  # not whole numbers
    assert not looks_like_codes(np.array([0, 0, 0, 7], float))  # one code: a sparse cover is possible


@pytest.mark.skipif(not LC100.is_file(), reason="LC100 tile not available")
def test_class_map_with_palette_is_refused(tmp_path, capsys):
    assert _change(tmp_path, LC100, LC100) == 2
    err = capsys.readouterr().err
    assert LC100.name in err and "colour table" in err


@need_gfc
def test_derived_cover_gives_geod_forest_loss_and_a_change_map_is_refused(tmp_path, capsys):
    """cover2023 = treecover2000 where lossyear == 0, else 0. Truth: forest (> 30 %) with lossyear 1..23, summed
    over pyproj.Geod areas of each row's cells (2.20 km2; the old reading of lossyear as cover gave 26.6 km2)."""
    from pyproj import Geod

    with rasterio.open(TC2000) as a, rasterio.open(LOSSYEAR) as b:
        cover, loss, profile, t = a.read(1), b.read(1), a.profile, a.transform
    later = np.where(cover == 255, 255, np.where(loss == 0, cover, 0)).astype(np.uint8)
    with rasterio.open(tmp_path / "cover2023.tif", "w", **profile) as dst:
        dst.write(later, 1)
    assert _change(tmp_path, TC2000, tmp_path / "cover2023.tif") == 0
    geod = Geod(ellps="WGS84")
    rows = [abs(geod.polygon_area_perimeter([t.c, t.c + t.a, t.c + t.a, t.c],
                                            [t.f + r * t.e, t.f + r * t.e, t.f + (r + 1) * t.e, t.f + (r + 1) * t.e])[0])
            for r in range(cover.shape[0])]
    lost = (cover > 30) & (cover <= 100) & (loss >= 1) & (loss <= 23)
    truth = float((lost * np.asarray(rows)[:, None]).sum())
    table = pd.read_csv(tmp_path / "c.csv")
    assert table["forest_loss_m2"].iloc[0] == pytest.approx(truth, rel=1e-4)
    assert 2.1e6 < truth < 2.3e6
    # the change map itself is no epoch
    out2 = tmp_path / "again"
    out2.mkdir()
    assert _change(out2, TC2000, tmp_path / "c.tif") == 2
    assert "irrmap treecover change` map" in capsys.readouterr().err


# ---- finding 3: --sensor against the product id of the file names ----------------------------------------
@pytest.fixture(scope="module")
def tm_model(tmp_path_factory):
    """A model fitted on synthetic TM-numbered bands (scene_B1..B7, --sensor LT05) and the same bands renamed as
    LC08 surface reflectance files (..._sr_band1 .. band7: OLI numbers, where band 1 is coastal aerosol)."""
    root = tmp_path_factory.mktemp("tcsensor")
    paths, cover = scene(root / "bands", shape=(96, 128), described=False)
    ref = write(root / "ref.tif", np.repeat(np.repeat(block_mean(cover, 8), 8, 0), 8, 1).astype(np.float32))
    model, card = fit_treecover(open_stack(paths, sensor="LT05"), ref, resolution_m=240, cv_block_m=960, cv_splits=4, n_trees=10)
    save_treecover(model, card, root / "model")
    l8 = root / "l8"
    l8.mkdir()
    renamed = []
    for p in paths:
        q = l8 / (L8_STEM.format(p.stem.rsplit("B", 1)[1]) + ".tif")
        shutil.copy(p, q)
        renamed.append(q)
    return {"root": root, "ref": ref, "model_dir": root / "model", "l8": renamed}


def test_sensor_contradicting_product_id_is_refused_by_fit_and_predict(tm_model, tmp_path, capsys):
    bands = ["--bands", *map(str, tm_model["l8"])]
    assert main(["-q", "treecover", "fit", str(tmp_path / "m"), "--reference", str(tm_model["ref"]), *bands, "--sensor", "LT05"]) == 2
    err = capsys.readouterr().err
    assert L8_STEM.format(1) in err and "LC08" in err and "--sensor LT05" in err and "Traceback" not in err
    assert main(["-q", "treecover", "predict", str(tmp_path / "p.tif"), str(tm_model["model_dir"]), *bands, "--sensor", "LT05",
                 "--no-check"]) == 2
    assert "LC08" in capsys.readouterr().err and not (tmp_path / "p.tif").exists()
    with pytest.raises(InputError, match="says LC08"):
        open_stack(tm_model["l8"], sensor="LE07")
    open_stack(tm_model["l8"], sensor="LC09", warn_indices=False)  # same band numbers (OLI): allowed, with a warning


def test_predict_refuses_other_band_numbers_matched_by_file_name(tm_model, tmp_path, capsys):
    """No --sensor: the LC08 files' band numbers 1..7 match the TM fit's file names, but OLI band 1 is no TM band 1."""
    code = main(["-q", "treecover", "predict", str(tmp_path / "p.tif"), str(tm_model["model_dir"]), "--bands",
                 *map(str, tm_model["l8"]), "--no-check"])
    assert code == 2
    err = capsys.readouterr().err
    assert "LC08" in err and "LT05" in err and "--band-names" in err


# ---- finding 4: trend of MOD13Q1 stored as uint16 JPEG2000 ---------------------------------------------
need_jp2 = pytest.mark.skipif(not JP2.is_dir(), reason="MOD13Q1 JPEG2000 series not available")


@need_jp2
def test_trend_refuses_impossible_ndvi_and_the_preset_gives_theilslopes(tmp_path, capsys):
    from scipy.stats import theilslopes

    files = sorted(str(p) for p in JP2.glob("*NDVI*.jp2"))
    args = ["-q", "treecover", "trend", "--min-years", "2"]
    assert main([*args, "--scale", "0.0001", str(tmp_path / "bad.tif"), *files]) == 2  # old code: rc 0, NDVI up to 6.55
    err = capsys.readouterr().err
    assert "NDVI" in err and "outside -1..1" in err and "--preset mod13q1" in err and ".jp2" in err
    assert not (tmp_path / "bad.tif").exists()
    assert main([*args, "--preset", "mod13q1", str(tmp_path / "t.tif"), *files]) == 0
    with rasterio.open(tmp_path / "t.tif") as src:
        slope = src.read(1)[27, 51]
    raw = np.array([rasterio.open(f).read(1)[27, 51] for f in files])
    stored = raw.astype(np.uint16).view(np.int16).astype(np.float64)  # int16 SDS stored as uint16
    ok = (raw != 65531) & (stored != -3000) & (stored >= -2000) & (stored <= 10000)
    days = [dt.date.fromisoformat(Path(f).stem[-10:]) for f in files]
    t = np.array([d.year + (d.timetuple().tm_yday - 1) / (366 if d.year % 4 == 0 else 365) for d in days])
    assert slope == pytest.approx(theilslopes(stored[ok] * 1e-4, t[ok])[0], rel=1e-5, abs=1e-7)
