"""Errors about a file a config names say which config key(s) name it; library warnings print no source line; the
run's N-score counts the pixels a window median <= 0 leaves without a score, as `irrmap features nscore` does.

Expected values are independent of irrmap: the keys are those written in the test's own config, the raster faults are
made with rasterio (a file GDAL cannot open, a GeoTIFF written without CRS and geotransform), and the count of pixels
without an N-score comes from scipy's maximum filter over the written rasters (every VI is negative, so a window's
median is <= 0 wherever the window holds a reference pixel with a VI).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from scipy import ndimage
from test_pipeline_cli import CONFIG, project  # noqa: F401 - the tiny two-county project and its fixture

from irrmap.app.cli import main


def _faults(folder: Path) -> tuple[Path, Path]:
    """bad.tif (bytes GDAL reads as no format) and nocrs.tif (a GeoTIFF with neither CRS nor geotransform)."""
    bad = folder / "bad.tif"
    bad.write_bytes(b"this is not a raster\n" * 10)
    nocrs = folder / "nocrs.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(nocrs, "w", driver="GTiff", width=8, height=6, count=1, dtype="float32") as dst:
            dst.write(np.ones((1, 6, 8), np.float32))
    return bad, nocrs


def _two_bad(project) -> Path:  # noqa: F811
    bad, nocrs = _faults(project)
    cfg = project / "config.toml"
    cfg.write_text(CONFIG.replace('path = "dem.tif"', f'path = "{bad.name}"') + f'\n[inputs.pet]\npath = "{nocrs.name}"\n')
    return cfg


def _cli(*argv) -> subprocess.CompletedProcess:
    """`python -m irrmap ARGV` in a fresh process: the warnings a user's terminal shows (pytest records them in-process)."""
    return subprocess.run([sys.executable, "-m", "irrmap", *argv], check=False, capture_output=True, text=True, timeout=300)


def test_check_names_the_key_of_each_bad_input_and_prints_no_library_warning(project):  # noqa: F811
    cfg = _two_bad(project)
    res = _cli("run", "--check", str(cfg))
    assert res.returncode == 2, res.stderr
    err = res.stderr
    assert f"[inputs.dem].path = {project / 'bad.tif'}: cannot open raster" in err, err
    assert f"[inputs.pet].path = {project / 'nocrs.tif'}: raster has no CRS and no geotransform" in err, err
    assert "Traceback" not in err
    assert "NotGeoreferencedWarning" not in err and "DatasetReader(" not in err, err  # irrmap's own error says it
    verbose = _cli("-v", "run", "--check", str(cfg)).stderr  # -v shows the library's warning, as one DEBUG log line
    assert "DEBUG py.warnings: NotGeoreferencedWarning: Dataset has no geotransform" in verbose, verbose
    assert "DatasetReader(" not in verbose


def test_run_names_the_key_of_each_bad_input(project, capsys):  # noqa: F811
    cfg = _two_bad(project)
    assert main(["-q", "run", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"[inputs.dem].path = {project / 'bad.tif'}: cannot open raster" in err, err
    assert f"[inputs.pet].path = {project / 'nocrs.tif'}: raster has no CRS and no geotransform" in err, err
    assert "Traceback" not in err and not (project / "out" / "aligned").exists()


def test_one_bad_file_under_two_keys_names_both_keys(project, capsys):  # noqa: F811
    bad, _ = _faults(project)
    text = CONFIG.replace('path = "landcover.tif"', f'path = "{bad.name}"')
    text += f'\n[inputs.forest_grass]\npath = "{bad.name}"\nkind = "fraction"\nclasses = [2, 3]\n'
    (project / "config.toml").write_text(text)
    assert main(["-q", "run", "--check", str(project / "config.toml")]) == 2
    err = capsys.readouterr().err
    for key in ("[inputs.cropland].path", "[inputs.forest_grass].path"):  # each entry's line names its own key
        assert err.count(f"{key} = {bad}: cannot open raster") == 1, err


def test_other_library_warnings_are_one_log_line_without_source(capsys):
    from irrmap.app.cli.library_warnings import library_warnings_logged

    with warnings.catch_warnings(), library_warnings_logged(0):
        warnings.simplefilter("always")
        warnings.warn_explicit("a library speaks", UserWarning, "/x/lib/mod.py", 7)
        warnings.warn_explicit("no geotransform", NotGeoreferencedWarning, "/x/rasterio/__init__.py", 356)
    err = capsys.readouterr().err
    assert "WARNING py.warnings: UserWarning: a library speaks (lib/mod.py:7)" in err, err
    assert "no geotransform" not in err  # at DEBUG, shown with -v only
    assert logging.getLogger("py.warnings").propagate is False  # not collected as the run's warnings


def test_run_counts_pixels_without_an_nscore_as_the_single_command_does(tmp_path, capsys):
    assert main(["-q", "demo", str(tmp_path / "d"), "--rows", "48", "--cols", "56"]) == 0
    d = tmp_path / "d"
    with rasterio.open(d / "inputs" / "modis" / "evi.tif") as src:  # every valid EVI negative (fill -3000 kept)
        a, profile, tags = src.read(), src.profile, src.tags()
        descriptions, band_tags = src.descriptions, [src.tags(i + 1) for i in range(src.count)]
    a[a != -3000] = -np.abs(a[a != -3000]) - 100
    with rasterio.open(d / "inputs" / "modis" / "evi.tif", "w", **profile) as dst:
        dst.write(a)
        dst.update_tags(**tags)
        for i, (desc, bt) in enumerate(zip(descriptions, band_tags), start=1):
            dst.set_band_description(i, desc)
            dst.update_tags(i, **bt)
    text = (d / "config.toml").read_text()
    text = text[:text.index("[training]")]  # the stages up to the features
    text = text[:text.index("[suitability]")] + text[text.index("[features]"):]
    (d / "config.toml").write_text(text)
    code = main(["-q", "run", str(d / "config.toml")])
    err = capsys.readouterr().err
    out = d / "output"
    with rasterio.open(out / "features" / "evi_max.tif") as src:
        vi = src.read(1, masked=True)
    shares = []
    for name in ("cropland", "forest_grass"):
        with rasterio.open(out / "aligned" / f"{name}.tif") as src:
            shares.append(src.read(1, masked=True).filled(0))
    ref = (shares[0] + shares[1] >= 0.5) & ~vi.mask  # METHOD.md: crop plus forest/grass share >= 0.5, with a VI
    assert (vi.compressed() < 0).all()
    in_reach = ndimage.maximum_filter(ref.astype(np.uint8), size=101, mode="constant", cval=0) > 0  # the window's reference
    bad = int(np.count_nonzero(in_reach & ~vi.mask))
    assert code == 2 and bad > 0, err
    assert f"[features].evi (evi_max): {bad} of the {bad} pixels with a VI" in err and "<= 0" in err, err
    assert "EVI, NDVI or GI" in err and "Traceback" not in err
    assert not (out / "features" / "nevi.tif").exists()



def test_a_file_error_names_the_raising_stage_s_key_else_every_key_naming_the_file(project):  # noqa: F811
    from irrmap.core.config import load_config
    from irrmap.core.config_keys import name_keys
    from irrmap.core.errors import ErrorList, InputError

    text = CONFIG + '\n[inputs.forest_grass]\npath = "landcover.tif"\nkind = "fraction"\nclasses = [2]\n'
    (project / "config.toml").write_text(text)
    loaded = load_config(project / "config.toml")
    lc = str(project / "landcover.tif")
    err = lambda: InputError("broken", lc, "fix it")  # a reader's error: located at the file only
    both = "[inputs.cropland].path, [inputs.forest_grass].path"
    assert str(name_keys([err()], loaded)[0]) == f"{both} = {lc}: broken (fix: fix it)"
    assert str(name_keys([err()], loaded, "inputs.forest_grass")[0]) == f"[inputs.forest_grass].path = {lc}: broken (fix: fix it)"
    assert str(name_keys([err()], loaded, "units")[0]).startswith(f"{both} = {lc}: ")  # units reads no such key
    band = InputError("no band 3", f"{lc} band 3")
    assert str(name_keys([band], loaded, "inputs.cropland")[0]) == f"[inputs.cropland].path = {lc} band 3: no band 3"
    keyed = InputError("bad", f"[inputs.dem].path = {lc}")  # located at a key already: unchanged
    listed = ErrorList([keyed, InputError("other", "elsewhere.tif")], "cfg")
    assert str(name_keys([listed], loaded)[0]) == str(ErrorList([keyed, InputError("other", "elsewhere.tif")], "cfg"))
