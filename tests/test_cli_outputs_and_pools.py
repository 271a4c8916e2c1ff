"""Outputs that would destroy inputs, and training pools a classifier cannot learn from (probe D, findings 3-5).

- `--out` pointing at an input (`training pool --map M --out M`, `models fit P --out P`, `mapping aggregate F --out F`,
  `training thresholds --score D/s.tif --out D`, `mapping filter D/class.tif --out D`) replaced the input and exited 0;
  a folder holding `mapping predict`'s finished maps was overwritten by `mapping filter`. Now exit 2 naming both and the
  input's bytes untouched (hashlib of the file before and after: the independent truth).
- A one-class pool, or a county scope whose units are all single-class, gave a constant "model"; now refused with the
  class counts (counted by hand below); a few single-class or thin units warn with their count.
- per_class 0 passed the config and the CLI then failed as an "empty pool"; now refused naming per_class.
"""

from __future__ import annotations

import hashlib
import logging
import os

import numpy as np
import pandas as pd
import pytest
from irrmap.models import fit_from_pool
from pydantic import ValidationError

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.output_paths import refuse_overwriting_inputs


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def files(tmp_path):
    """Input files of fixed bytes (the guard runs before any input is read, so their content does not matter)."""
    for rel in ("thc/sevi.tif", "crop.tif", "pool.parquet", "fltc/fraction.tif", "prO/class.tif", "prO/fraction.tif",
                "prO/probability.tif", "u.gpkg", "stats.csv", "tho/sevi.tif"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rel.encode() * 50)
    (tmp_path / "prO" / ".predict_done.json").write_text("{}")
    return tmp_path


def _run(capsys, argv, guarded):
    """Run the CLI; return (exit code, stderr), asserting the `guarded` file kept its bytes."""
    before = _digest(guarded)
    code = main(argv)
    assert _digest(guarded) == before, f"{guarded} was overwritten"
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, guarded, names", [
    (["training", "pool", "--map", "{d}/thc/sevi.tif", "--cropland", "{d}/crop.tif", "--units", "{d}/u.gpkg", "--unit-field", "code",
      "--out", "{d}/thc/sevi.tif"], "thc/sevi.tif", "--map"),
    (["models", "fit", "{d}/pool.parquet", "--out", "{d}/pool.parquet"], "pool.parquet", "POOL"),
    (["mapping", "aggregate", "{d}/fltc/fraction.tif", "--out", "{d}/fltc/fraction.tif"], "fltc/fraction.tif", "MAP"),
    (["mapping", "aggregate", "{d}/fltc/fraction.tif", "--out", "{d}/fltc/../fltc/./fraction.tif"], "fltc/fraction.tif", "MAP"),
    (["training", "thresholds", "--score", "{d}/tho/sevi.tif", "--cropland", "{d}/crop.tif", "--units", "{d}/u.gpkg",
      "--unit-field", "code", "--stats", "{d}/stats.csv", "--stats-field", "c", "--area-field", "a", "--area-unit", "ha",
      "--out", "{d}/tho"], "tho/sevi.tif", "--score"),
    (["mapping", "filter", "{d}/prO/class.tif", "--cropland", "{d}/crop.tif", "--out", "{d}/prO"], "prO/class.tif", "MAP"),
])
def test_out_over_an_input_is_refused(files, capsys, argv, guarded, names):
    code, err = _run(capsys, [a.format(d=files) for a in argv], files / guarded)
    assert code == 2
    assert "would overwrite that input" in err and names in err and "fix:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, guarded, names", [
    (["suitability", "slope", "{d}/crop.tif", "{d}/crop.tif"], "crop.tif", "DEM"),
    (["units", "rasterize", "{d}/u.gpkg", "--code-field", "code", "--out", "{d}/u.gpkg"], "u.gpkg", "UNITS"),
    (["evaluate", "points", "{d}/crop.tif", "{d}/stats.csv", "--label-field", "l", "--out", "{d}/stats.csv"], "stats.csv", "POINTS"),
    (["treecover", "change", "{d}/crop.tif", "{d}/crop.tif", "{d}/tho/sevi.tif"], "crop.tif", "EPOCH_A"),
    (["water", "change", "{d}/thc", "{d}/thc", "{d}/tho"], "thc/sevi.tif", "BODIES_A"),
])
def test_every_command_refuses_out_over_an_input(files, capsys, argv, guarded, names):
    # the guard of the CLI's main: any command whose --out / OUT / OUT_DIR is the same file or folder as an input
    code, err = _run(capsys, [a.format(d=files) for a in argv], files / guarded)
    assert code == 2
    assert "would overwrite that input" in err and names in err and "Traceback" not in err


def test_a_valid_input_is_not_replaced(tmp_path, capsys):
    # a real DEM: before the guard, `suitability slope DEM DEM` wrote the slope over the DEM and exited 0
    from conftest import as_dataarray

    from irrmap.core.grid import Grid
    from irrmap.core.raster_write import write_raster

    g = Grid.from_bounds(100.0, 40.0, 100.1, 40.1, 0.005, "EPSG:4326")
    dem = np.add.outer(np.arange(g.height), np.arange(g.width)).astype(np.float32) * 10
    write_raster(tmp_path / "dem.tif", as_dataarray(dem, g), cog=False)
    code, err = _run(capsys, ["suitability", "slope", str(tmp_path / "dem.tif"), str(tmp_path / "." / "dem.tif")], tmp_path / "dem.tif")
    assert code == 2 and "OUT" in err and "DEM" in err


def test_out_through_a_link_is_the_same_file(files, capsys):
    os.symlink(files / "pool.parquet", files / "link.parquet")
    code, err = _run(capsys, ["models", "fit", str(files / "pool.parquet"), "--out", str(files / "link.parquet")], files / "pool.parquet")
    assert code == 2 and "would overwrite that input" in err


def test_filter_into_a_finished_predict_folder_is_refused(files, capsys):
    (files / "other").mkdir()
    (files / "other" / "class.tif").write_bytes((files / "prO" / "class.tif").read_bytes())
    code, err = _run(capsys, ["mapping", "filter", str(files / "other" / "class.tif"), "--cropland", str(files / "crop.tif"),
                              "--out", str(files / "prO")], files / "prO" / "class.tif")
    assert code == 2
    assert "finished outputs of `irrmap mapping predict`" in err and "class.tif, fraction.tif" in err


def test_a_file_over_a_finished_predict_map_is_refused(files, capsys):
    code, err = _run(capsys, ["mapping", "aggregate", str(files / "fltc/fraction.tif"), "--out", str(files / "prO" / "class.tif")],
                     files / "prO" / "class.tif")
    assert code == 2 and "finished outputs of `irrmap mapping predict`" in err


def test_own_marker_and_new_files_pass(files):
    # `mapping predict` may rerun into its own folder (resume); any command may write new files in a fresh folder
    refuse_overwriting_inputs({"--cropland": files / "crop.tif"}, [files / "prO" / "class.tif"], folder=files / "prO",
                              own_marker=".predict_done.json")
    refuse_overwriting_inputs({"MAP": files / "prO/class.tif", "--zones": None}, [files / "new" / "class.tif"], folder=files / "new")


def test_output_into_an_input_folder_is_refused(files):
    with pytest.raises(InputError, match="into the input folder"):
        refuse_overwriting_inputs({"FILES": [files / "thc"]}, [files / "thc" / "max.tif"])


def test_models_fit_into_a_folder_suggests_a_joblib_name(files, capsys):
    (files / "m").mkdir()
    assert main(["models", "fit", str(files / "pool.parquet"), "--out", str(files / "m")]) == 2
    err = capsys.readouterr().err
    assert "model.joblib" in err and "NAME.tif" not in err


# ---- pools a classifier cannot learn from -------------------------------------------------------------------------

def _pool(labels, units):
    """A pool of len(labels) samples: two features, unit codes, zones, rows/cols far apart."""
    rng = np.random.default_rng(0)
    n = len(labels)
    return pd.DataFrame({"unit": [f"6501{u:02d}" for u in units], "zone": np.asarray(units, np.int32), "label": labels,
                         "row": np.arange(n) * 3, "col": np.arange(n) % 7, "evi": rng.random(n), "ndwi": rng.random(n)})


def test_one_class_pool_is_refused_with_counts():
    pool = _pool(np.ones(40, int), np.repeat([1, 2], 20))
    with pytest.raises(InputError, match="0 not irrigated, 40 irrigated") as err:
        fit_from_pool(pool, cv_blocks=None, pool_name="pool_one.parquet")
    assert "pool_one.parquet: label" in str(err.value) and "per_class" in str(err.value)


def test_one_class_pool_exits_2(tmp_path, capsys):
    _pool(np.zeros(30, int), np.repeat([1, 2, 3], 10)).to_parquet(tmp_path / "p.parquet")
    assert main(["models", "fit", str(tmp_path / "p.parquet"), "--out", str(tmp_path / "m.joblib"), "--cv-blocks", "0"]) == 2
    assert "30 not irrigated, 0 irrigated" in capsys.readouterr().err
    assert not (tmp_path / "m.joblib").exists()


def test_county_scope_with_only_single_class_units_is_refused():
    # unit 1: 20 irrigated, unit 2: 20 not: both classes overall (a fallback could fit), but no county model
    pool = _pool(np.repeat([1, 0], 20), np.repeat([1, 2], 20))
    with pytest.raises(InputError, match="every one of the 2 county units"):
        fit_from_pool(pool, scope="county", cv_blocks=None)


def test_some_single_class_and_thin_units_warn(caplog):
    # units 1, 2: 30 + 30 samples (fitted); unit 3: 15 irrigated only (a constant); unit 4: 1 + 14 (thin: 1 < min leaf 10)
    labels = np.r_[np.tile([0, 1], 30), np.ones(15, int), [0], np.ones(14, int)]
    units = np.r_[np.repeat([1, 2], 30), np.full(15, 3), np.full(15, 4)]
    with caplog.at_level(logging.WARNING):
        _, card = fit_from_pool(_pool(labels, units), scope="county", cv_blocks=None)
    text = caplog.text
    assert "1 of 4 county units have samples of one class only" in text and "650103 (0 not / 15 irrigated)" in text
    assert "1 of 4 county models are fitted on fewer samples of a class than the minimum leaf size 10" in text
    assert "650104 (1 not / 14 irrigated)" in text
    assert card["samples"]["single_class_keys"] == {"650103": 1}


# ---- per_class ---------------------------------------------------------------------------------------------------

def test_per_class_0_is_invalid_in_config():
    from irrmap.core.config import TrainingSection

    with pytest.raises(ValidationError, match="per_class"):
        TrainingSection(per_class=0)
    assert TrainingSection(per_class=1).per_class == 1


@pytest.mark.parametrize("n", ["0", "-5"])
def test_per_class_below_1_is_refused_on_the_cli(files, capsys, n):
    code = main(["training", "pool", "--map", str(files / "thc/sevi.tif"), "--cropland", str(files / "crop.tif"), "--units",
                 str(files / "u.gpkg"), "--unit-field", "code", "--per-class", n, "--out", str(files / "p.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and "--per-class" in err and "give 1 or more" in err


def test_run_quota_of_0_for_every_unit_names_per_class_in():
    from types import SimpleNamespace

    from irrmap.app.stages.training import _quota
    from irrmap.core.errors import ConfigError

    table = pd.DataFrame({"zone": [1, 2], "code": ["650101", "650102"], "province": ["650000", "650000"]})
    ctx = lambda overrides: SimpleNamespace(config=SimpleNamespace(training=SimpleNamespace(per_class=200, per_class_in=overrides)))
    with pytest.raises(ConfigError, match=r"\[training\]\.per_class_in: per_class_in sets 0 samples for every one of the 2 units"):
        _quota(ctx({"650000": 0}), table)
    assert _quota(ctx({"650101": 0}), table).tolist() == [200, 0, 200]  # one unit left out: still a pool


def test_predictor_names_any_order_and_missing_named():
    from irrmap.app.cli.mapping_cmd import check_predictor_names_given

    check_predictor_names_given(["evi", "ndwi", "lon", "lat"], {"ndwi": "b.tif", "evi": "a.tif"})  # any order; lon/lat derived
    with pytest.raises(InputError, match=r"missing ndwi; not a feature of the model: gi") as err:
        check_predictor_names_given(["evi", "ndwi"], {"evi": "a.tif", "gi": "g.tif"})
    assert "any order" in str(err.value) and "in its order" not in str(err.value)
