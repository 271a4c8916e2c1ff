"""Single-file outputs never clobber unrelated files; user errors exit 2 with -v too; global options after the command.

probeS items 2, 6, 7: `irrmap suitability slope dem.tif victim.csv` replaced a CSV by a GeoTIFF (exit 0); `irrmap -v
units info ...` exited 1 on an input error; `irrmap demo -q OUT` was refused; `irrmap models info table.csv` said
"model card not found". Truth used here: the victim's bytes (sha256) before and after, GDAL's own driver detection
(rasterio's `driver`) for what a file is, and the exit statuses the CLI documents (2 for user errors).
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def dem(tmp_path_factory):
    """A 24 x 24 tilted plane (UTM 12N, 90 m pixels), as a GDAL-written GeoTIFF."""
    path = tmp_path_factory.mktemp("dem") / "dem.tif"
    z = (np.arange(24)[None, :] * 9.0 + np.arange(24)[:, None] * 3.0).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=24, height=24, count=1, dtype="float32", crs="EPSG:32612",
                       transform=from_origin(300000, 4200000, 90, 90), nodata=-9999) as dst:
        dst.write(z, 1)
    return path


def _run(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    return code, capsys.readouterr().err


def test_geotiff_over_unrelated_csv_is_refused_and_the_csv_kept(dem, tmp_path, capsys):
    victim = tmp_path / "victim.csv"
    victim.write_text("code,area\n1,2.5\n")
    before = _sha(victim)
    code, err = _run(["suitability", "slope", dem, victim], capsys)
    assert code == 2
    assert _sha(victim) == before  # not a byte changed
    assert "OUT" in err and ".tif" in err and "victim.csv" in err
    assert not list(tmp_path.glob(".victim.csv.*"))  # no temporary left


def test_existing_non_geotiff_under_tif_name_needs_overwrite(dem, tmp_path, capsys):
    victim = tmp_path / "notes.tif"
    victim.write_text("not a raster, a user's notes\n")
    before = _sha(victim)
    code, err = _run(["suitability", "slope", dem, victim], capsys)
    assert code == 2 and _sha(victim) == before
    assert "--overwrite" in err
    code, err = _run(["suitability", "slope", dem, victim, "--overwrite"], capsys)  # global option after the command
    assert code == 0, err
    with rasterio.open(victim) as src:  # GDAL now reads a GeoTIFF there
        assert src.driver == "GTiff" and src.shape == (24, 24)


def test_rerun_over_own_geotiff_is_allowed_and_said_at_info(dem, tmp_path, capsys, caplog):
    out = tmp_path / "slope.tif"
    assert _run(["suitability", "slope", dem, out], capsys)[0] == 0
    with caplog.at_level(logging.INFO):
        code, err = _run(["suitability", "slope", dem, out], capsys)
    assert code == 0, err
    said = [r for r in caplog.records if "replaced" in r.getMessage() and str(out) in r.getMessage()]
    assert said and all(r.levelno == logging.INFO for r in said) and len(said) == 1


@pytest.mark.parametrize("name", ["slope.gpkg", "slope.json", "slope.shp", "slope"])
def test_geotiff_refused_under_names_of_other_kinds(dem, tmp_path, capsys, name):
    code, err = _run(["suitability", "slope", dem, tmp_path / name], capsys)
    assert code == 2 and not (tmp_path / name).exists()
    assert ".tif" in err


def test_control_new_geotiff_output_is_written(dem, tmp_path, capsys):
    """Control (passes before and after the fix): an ordinary new .tif output."""
    out = tmp_path / "new" / "slope.tif"
    code, err = _run(["suitability", "slope", dem, out], capsys)
    assert code == 0, err
    with rasterio.open(out) as src:
        assert src.driver == "GTiff"


def test_table_written_under_a_tif_name_is_refused(tmp_path):
    """Every file goes through atomic_path: a text table renamed onto .tif is refused, nothing is left."""
    from irrmap.core.atomic import atomic_path
    from irrmap.core.errors import InputError

    target = tmp_path / "table.tif"
    with pytest.raises(InputError, match=r"\.csv"):
        with atomic_path(target) as tmp:
            tmp.write_text("code,area\n1,2\n")
    assert list(tmp_path.iterdir()) == []


def test_existing_geotiff_not_replaced_by_a_table_without_overwrite(dem, tmp_path):
    from irrmap.core.atomic import atomic_path
    from irrmap.core.errors import InputError
    from irrmap.core.output_paths import overwrite_allowed

    target = tmp_path / "t.dat"  # a name of no known kind: the bytes decide
    target.write_bytes(dem.read_bytes())
    before = _sha(target)
    with pytest.raises(InputError, match="--overwrite"):
        with atomic_path(target) as tmp:
            tmp.write_text("a,b\n")
    assert _sha(target) == before
    with overwrite_allowed(), atomic_path(target) as tmp:
        tmp.write_text("a,b\n")
    assert target.read_text() == "a,b\n"


def test_file_kind_agrees_with_gdal(dem, tmp_path):
    import pandas as pd

    from irrmap.core.output_paths import file_kind

    csv = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(csv, index=False)
    pq = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(pq)
    assert file_kind(dem) == "tiff"
    with rasterio.open(dem) as src:
        assert src.driver == "GTiff"
    assert file_kind(pq) == "parquet" and pq.read_bytes()[-4:] == b"PAR1"  # Parquet ends with its magic too
    assert file_kind(csv) == "text"
    assert file_kind(tmp_path) is None


def test_user_error_exits_2_with_verbose_and_shows_traceback(tmp_path, capsys):
    missing = tmp_path / "missing.tif"
    for argv in (["-v", "suitability", "slope", missing, tmp_path / "o.tif"],
                 ["suitability", "slope", missing, tmp_path / "o.tif", "-v"]):  # -v after the command too
        code, err = _run(argv, capsys)
        assert code == 2, err
        assert "Traceback" in err and err.strip().splitlines()[-1].startswith("irrmap: error:")
    code, err = _run(["suitability", "slope", missing, tmp_path / "o.tif"], capsys)
    assert code == 2 and "Traceback" not in err


def test_cluster_failure_exits_2_with_verbose(tmp_path, capsys, monkeypatch):
    """The other kind mapped to exit 2 (a failed dask cluster): -v keeps exit 2."""
    import irrmap.app.cli.suitability_cmd as cmd
    import irrmap.app.cluster_errors as ce
    from irrmap.core.errors import OutputError

    def boom(args):
        raise RuntimeError("scheduler lost")

    monkeypatch.setattr(cmd, "_slope", boom)
    monkeypatch.setattr(ce, "cluster_failure", lambda exc: OutputError("cluster failed") if "scheduler" in str(exc) else None)
    code, err = _run(["-v", "suitability", "slope", tmp_path / "a.tif", tmp_path / "o.tif"], capsys)
    assert code == 2 and "Traceback" in err and "cluster failed" in err.splitlines()[-1]


def test_global_options_after_the_command_and_listed_in_its_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "-q, --quiet" in out and "-v, --verbose" in out and "--overwrite" in out


def test_models_info_on_a_table_says_not_a_model(tmp_path, capsys):
    table = tmp_path / "table.csv"
    table.write_text("a,b\n1,2\n")
    code, err = _run(["models", "info", table], capsys)
    assert code == 2
    assert "table.csv" in err and "not a model file" in err and "card not found" not in err
