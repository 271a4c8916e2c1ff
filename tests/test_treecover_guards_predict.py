"""Tree-cover guards: bands in other units than the fit (0..1 against x 1e4) stop predict (exit 2, naming the
band file and the factor) while modest extrapolation only warns; no false 'indices left out' warning at predict
(the model's names are used: the map equals the one of correctly named bands); MODEL_DIR that is a file; trend
--min-years above the series' calendar years."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import rasterio
from treecover_synthetic import block_mean, scene, write

from irrmap.app.cli import main
from irrmap.core.errors import InputError, OutputError
from irrmap.mapping.treecover.fit import fit_treecover, save_treecover
from irrmap.mapping.treecover.predict import check_band_units, predict_treecover
from irrmap.mapping.treecover.predictors import open_stack
from irrmap.mapping.treecover.trend import trend_block


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A random forest at 240 m on synthetic bands x 1e4 named by file number (scene_B1 .. B7, no descriptions)."""
    root = tmp_path_factory.mktemp("tcguards")
    paths, cover = scene(root / "bands", shape=(96, 128), described=False)
    ref = np.repeat(np.repeat(block_mean(cover, 8), 8, 0), 8, 1).astype(np.float32)
    ref_path = write(root / "ref.tif", ref)
    model, card = fit_treecover(open_stack(paths, sensor="LT05"), ref_path, resolution_m=240, cv_block_m=960, cv_splits=4, n_trees=20)
    save_treecover(model, card, root / "model")
    return {"root": root, "paths": paths, "model_dir": root / "model"}


def _scaled(paths, folder, factor):
    folder.mkdir(exist_ok=True)
    out = []
    for p in paths:
        with rasterio.open(p) as src:
            out.append(write(folder / p.name, src.read(1) * factor))
    return out


def test_bands_in_other_units_are_refused_naming_file_and_factor(fitted, tmp_path, capsys):
    refl = _scaled(fitted["paths"], tmp_path / "refl", 1e-4)
    with pytest.raises(InputError) as exc:
        predict_treecover(tmp_path / "x.tif", fitted["model_dir"], open_stack(refl, sensor="LT05", warn_indices=False), check=False)
    msg = str(exc.value)
    assert "scene_B1.tif (blue)" in msg and "about 0.0001 times" in msg and "multiply them by 10000" in msg
    assert not (tmp_path / "x.tif").exists()
    code = main(["-q", "treecover", "predict", str(tmp_path / "y.tif"), str(fitted["model_dir"]), "--bands", *map(str, refl),
                 "--sensor", "LT05", "--no-check"])
    assert code == 2 and "scene_B1.tif" in capsys.readouterr().err and not (tmp_path / "y.tif").exists()


def test_modest_extrapolation_only_warns(fitted, tmp_path, caplog):
    bright = _scaled(fitted["paths"], tmp_path / "bright", 3.0)  # 3x: far outside the fit's range, same units
    with caplog.at_level(logging.WARNING):
        res = predict_treecover(tmp_path / "b.tif", fitted["model_dir"], open_stack(bright, sensor="LT05", warn_indices=False), check=False)
    assert res["path"].is_file() and "far outside" in caplog.text


def test_check_band_units_by_hand(fitted):
    stack = open_stack(fitted["paths"], sensor="LT05")
    check_band_units(stack, [1.0] * 6, [29.0] * 6)  # 29x: not yet other units
    with pytest.raises(InputError, match=r"about 100 times"):
        check_band_units(stack, [1.0, 100.0, 1, 1, 1, 1], [1.0] * 6)
    with pytest.raises(InputError, match=r"\[treecover\.epochs\]\.2011: band file scene_B2\.tif \(green\)"):
        check_band_units(stack, [1.0, 0.001, 1, 1, 1, 1], [1.0] * 6, where="[treecover.epochs].2011")


@pytest.mark.parametrize("sensor", [None, "LC08"])
def test_no_false_indices_warning_at_predict(fitted, tmp_path, caplog, sensor):
    """Without --sensor, or with the wrong one, the bands match the fit by file names and the model's names and
    indices are used: the map equals that of the right --sensor, and no warning says indices are left out."""
    args = ["-q", "treecover", "predict"]
    bands = ["--bands", *map(str, fitted["paths"]), "--no-check"]
    assert main([*args, str(tmp_path / "ref.tif"), str(fitted["model_dir"]), *bands, "--sensor", "LT05"]) == 0
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main([*args, str(tmp_path / "x.tif"), str(fitted["model_dir"]), *bands, *(["--sensor", sensor] if sensor else [])]) == 0
    assert "left out" not in caplog.text
    with rasterio.open(tmp_path / "ref.tif") as a, rasterio.open(tmp_path / "x.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
    if sensor == "LC08":  # names that differ from the model's are reported as not used
        assert "not used" in caplog.text


def test_fit_into_an_existing_file_is_refused(tmp_path, capsys):
    paths, cover = scene(tmp_path / "b", shape=(48, 64))
    ref = write(tmp_path / "ref.tif", np.repeat(np.repeat(block_mean(cover, 8), 8, 0), 8, 1).astype(np.float32))
    target = tmp_path / "model.tif"
    target.write_bytes(b"not a folder")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        fit_treecover(open_stack(paths), ref, resolution_m=240, workdir=target)
    assert main(["-q", "treecover", "fit", str(target), "--reference", str(ref), "--bands", *map(str, paths)]) == 2
    assert "MODEL_DIR" in capsys.readouterr().err and target.read_bytes() == b"not a folder"


def test_min_years_above_the_series_years_is_refused(tmp_path):
    times = np.array([2000.5, 2001.5, 2002.5, 2003.5])  # 4 calendar years
    y = np.arange(4, dtype=np.float32)[:, None, None]
    assert trend_block(y, times, min_years=4)[0, 0, 0] == pytest.approx(1.0)  # 1 unit per year, by hand
    with pytest.raises(InputError, match="min_years 5 is more than the 4 calendar years"):
        trend_block(y, times, min_years=5)
