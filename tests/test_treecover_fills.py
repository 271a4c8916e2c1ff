"""Undeclared fill values: `treecover fit` and `treecover predict` refuse a band holding a common fill value far outside
the rest of its values (exit 2, naming the band file, the value, its pixel count and the gdal_edit.py -a_nodata fix),
and FILL_VALUES holds the common fills -99, 255, 65531..65534, NetCDF's 9.96921e36 and -3.4e38, judged by range so
that legit values (255 in a uint8 layer running 0..254, -99 m in a DEM reaching -430 m) pass.

Expected counts are hand-counted from the rectangles written; on the code before this fix both commands exit 0 and
the fill-list cases return None."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.mapping.treecover.fit import fit_treecover, save_treecover
from irrmap.mapping.treecover.predictors import open_stack
from treecover_synthetic import NAMES, bands_from_cover, block_mean, cover_field, write

from irrmap.app.cli import main
from irrmap.core import fill_values as F
from irrmap.core.errors import InputError

SHAPE = (96, 128)  # 12,288 pixels per band


def _bands(folder, fill_rows=None, fill_cols=None, fill=-9999.0, nodata=None):
    """Six described band files (float32 x 1e4, nodata as given: None = undeclared) with `fill` in the rectangle."""
    folder.mkdir(parents=True, exist_ok=True)
    bands = bands_from_cover(cover_field(SHAPE, 0), 1)
    out = []
    for n in NAMES:
        a = bands[n]
        if fill_rows is not None:
            a[fill_rows, fill_cols] = fill
        out.append(write(folder / f"{n}.tif", a, nodata=nodata, descriptions=[n]))
    return out


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("tcfills")
    paths = _bands(root / "clean")
    ref = np.repeat(np.repeat(block_mean(cover_field(SHAPE, 0), 8), 8, 0), 8, 1).astype(np.float32)
    ref_path = write(root / "ref.tif", ref)
    model, card = fit_treecover(open_stack(paths), ref_path, resolution_m=240, cv_block_m=960, cv_splits=4, n_trees=10)
    save_treecover(model, card, root / "model")
    return {"root": root, "ref": ref_path, "model_dir": root / "model"}


def _fit_cli(fitted, paths, out):
    return main(["-q", "treecover", "fit", "--reference", str(fitted["ref"]), "--bands", *map(str, paths), "--reference-resolution", "240",
                 "--trees", "5", "--cv-blocks", "960", "--cv-splits", "4", str(out)])


@pytest.mark.parametrize("rows, cols, n", [(slice(10, 40), slice(20, 60), 30 * 40),  # a block: 1,200 pixels
                                           (slice(50, 51), slice(None), 128)])  # one row: blended into every 240 m cell it crosses
def test_fit_refuses_an_undeclared_fill_naming_file_value_and_count(fitted, tmp_path, capsys, rows, cols, n):
    paths = _bands(tmp_path / "b", rows, cols)
    code = _fit_cli(fitted, paths, tmp_path / "m")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{n:,} of 12,288 pixels" in err and "blue.tif" in err and "-9999" in err
    assert f"gdal_edit.py -a_nodata -9999 {paths[0]}" in err
    assert not (tmp_path / "m" / "model.joblib").exists()


def test_predict_refuses_an_undeclared_fill_and_takes_it_once_declared(fitted, tmp_path, capsys):
    paths = _bands(tmp_path / "b", slice(10, 40), slice(20, 60))
    out = tmp_path / "p.tif"
    code = main(["-q", "treecover", "predict", str(out), str(fitted["model_dir"]), "--bands", *map(str, paths), "--no-check"])
    err = capsys.readouterr().err
    assert code == 2 and "1,200 of 12,288 pixels" in err and "-a_nodata -9999" in err and "blue.tif" in err and not out.exists()
    for p in paths:  # the fix the message gives: declare the nodata (gdal_edit.py -a_nodata -9999)
        with rasterio.open(p, "r+") as dst:
            dst.nodata = -9999.0
    assert main(["-q", "treecover", "predict", str(out), str(fitted["model_dir"]), "--bands", *map(str, paths), "--no-check"]) == 0
    with rasterio.open(out) as src:
        cover = src.read(1)
    assert int((cover[10:40, 20:60] == 255).sum()) == 1200  # the declared fill is missing in the map, not 20 % cover


@pytest.mark.parametrize("fill", [-99.0, 255.0, 65531.0, 65534.0, 9.96921e36, -3.4e38, -3.4028235e38])
def test_new_fill_values_far_outside_are_fills(fill):
    temperature = np.r_[np.linspace(-5.0, 15.07, 1000), np.full(434, fill)].astype(np.float32)
    got = F.undeclared_fill(temperature)
    assert got is not None and got[1] == 434 and got[0] == pytest.approx(float(np.float32(fill)), rel=1e-6)
    assert got[2:] == (pytest.approx(-5.0), pytest.approx(15.07))


@pytest.mark.parametrize("values", [np.arange(0, 256, dtype=np.float32),  # uint8 layer 0..254 plus 255 in range
                                    np.r_[np.linspace(-430.0, 200.0, 50), -99.0],  # a DEM of the Dead Sea shore
                                    np.r_[np.linspace(0.0, 40000.0, 50), 32767.0, 65534.0]])  # within 1 range of 0..40000
def test_fill_values_within_the_range_are_kept(values):
    assert F.undeclared_fill(values) is None


def test_models_fit_pool_guard_refuses_minus_99_and_255():
    from irrmap.models.fit import check_pool_values

    pool = pd.DataFrame({"temp": np.r_[np.linspace(-3.0, 15.07, 566), np.full(434, -99.0)],
                         "hum": np.r_[np.linspace(20.0, 90.0, 995), np.full(5, 255.0)]})
    with pytest.raises(InputError) as exc:
        check_pool_values(pool, ["temp"])
    assert "434 of 1,000 rows of predictor temp hold -99" in str(exc.value)
    with pytest.raises(InputError) as exc:
        check_pool_values(pool, ["hum"])
    assert "5 of 1,000 rows of predictor hum hold 255" in str(exc.value)


def test_block_summaries_judge_like_undeclared_fill():
    v = np.r_[np.linspace(100.0, 200.0, 20), [-9999.0] * 3, [np.nan] * 2].astype(np.float32)
    whole = F.summary_fill(F.fill_summary(v))
    parts = F.summary_fill(F.merge_fill_summaries([F.fill_summary(v[:7]), F.fill_summary(v[7:])]))
    assert whole == parts == F.undeclared_fill(v) == (-9999.0, 3, 100.0, 200.0)
    # a known range (the fit's) reaching the fill's neighbourhood excuses it; none at all: every fill value counts
    assert F.summary_fill(F.fill_summary(np.r_[v, 255.0]), known=(0.0, 200.0))[0] == -9999.0
    assert F.summary_fill(F.fill_summary(np.r_[150.0, 255.0]), known=(0.0, 200.0)) is None
    assert F.summary_fill(F.fill_summary(np.full(4, 255.0))) == (255.0, 4, None, None)
