"""Bad configs, output folders and disks give one-line errors naming the file, the cause and the fix (exit 2).

Truth comes from outside the code under test: byte positions from where the test put the bytes, degree
lengths from pyproj.Geod, free space from the kernel (a tmpfs of a few hundred kB), read-only from a
read-only mount (root) or file modes (other users).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess

import numpy as np
import pytest
from pyproj import Geod

from irrmap.app.cli import main
from irrmap.core.atomic import atomic_path, check_output_folder, write_text_atomic
from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError, GridError, OutputError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

from conftest import as_dataarray

CONFIG = """# 县级灌溉统计 (county statistics)
[run]
name = "t"
output_dir = "out"

[grid]
crs = "EPSG:4326"
bounds = [100.0, 40.0, 100.2, 40.1]
resolution = 0.00225

[inputs.dem]
path = "dem.tif"
"""
DEG_M = Geod(ellps="WGS84").inv(0.0, 0.0, 1.0, 0.0)[2]  # metres in one degree of longitude on the equator


@pytest.fixture
def folder(tmp_path):
    grid = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.001, "EPSG:4326")
    write_raster(tmp_path / "dem.tif", as_dataarray(np.ones(grid.shape, "float32"), grid), cog=False)
    return tmp_path


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("irrmap: error: ") and "Traceback" not in err[0], err
    return err[0]


# ---- encodings ------------------------------------------------------------------------------------------
def test_gb18030_config_names_the_byte_line_and_fix(folder, capsys):
    data = CONFIG.encode("gb18030")
    (folder / "c.toml").write_bytes(data)
    first = next(i for i, b in enumerate(data) if b >= 0x80)  # the first byte that is not ASCII: in the comment
    assert data[:first].count(b"\n") == 0 and data[first:first + 1] == "县".encode("gb18030")[:1]
    msg = _one_line_error(capsys, ["run", "--check", str(folder / "c.toml")])
    assert str(folder / "c.toml") in msg
    assert f"byte 0x{data[first]:02X} at offset {first} (line 1, column {first + 1}) is not UTF-8" in msg
    assert "it looks like gb18030: '# 县级灌溉统计 (county statistics)'" in msg  # the line as written
    assert "save the file as UTF-8" in msg and "iconv -f gb18030 -t UTF-8" in msg


def test_utf8_with_bom_is_read_like_without(folder):
    (folder / "plain.toml").write_text(CONFIG, encoding="utf-8")
    (folder / "bom.toml").write_bytes(b"\xef\xbb\xbf" + CONFIG.encode("utf-8"))
    plain, bom = load_config(folder / "plain.toml"), load_config(folder / "bom.toml")
    assert bom.config == plain.config and bom.sha256 == plain.sha256
    assert bom.grid().shape == (45, 89)


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-32", "UTF-32")])
def test_utf16_and_utf32_configs_are_refused(folder, encoding, name):
    (folder / "c.toml").write_bytes(CONFIG.encode(encoding))  # "utf-16" / "utf-32" write a byte-order mark
    with pytest.raises(ConfigError, match=rf"{name}.*TOML files must be UTF-8") as exc:
        load_config(folder / "c.toml")
    assert "save the file as UTF-8" in str(exc.value)


def test_a_folder_instead_of_the_config(folder, capsys):
    (folder / "config.toml").write_text(CONFIG, encoding="utf-8")
    msg = _one_line_error(capsys, ["run", str(folder)])
    assert f"{folder}: this is a folder, not a config file" in msg and str(folder / "config.toml") in msg


# ---- files named by the config --------------------------------------------------------------------------
def test_every_missing_file_is_listed_at_once(folder):
    text = CONFIG.replace('path = "dem.tif"', 'path = "nodem.tif"') + """
[units]
path = "nounits.gpkg"
code_field = "code"

[features]
evi = { source = "modis/evi.tif", qa = "modis/qa.tif" }
ndvi = "modis/ndvi/"
"""
    (folder / "c.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(folder / "c.toml")
    msg = str(exc.value)
    for key in ("[inputs.dem].path = nodem.tif", "[units].path = nounits.gpkg", "[features].evi.source = modis/evi.tif",
                "[features].evi.qa = modis/qa.tif", "[features].ndvi.source = modis/ndvi/"):
        assert key in msg


def test_unknown_grid_crs_is_a_config_error(folder):
    (folder / "c.toml").write_text(CONFIG.replace('"EPSG:4326"', '"EPSG:999999"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[grid\]\.crs: unknown CRS 'EPSG:999999'"):
        load_config(folder / "c.toml")


# ---- resolution against the CRS's units -----------------------------------------------------------------
def test_metres_on_a_degree_grid_are_refused(folder, capsys):
    (folder / "c.toml").write_text(CONFIG.replace("resolution = 0.00225", "resolution = 250"), encoding="utf-8")
    msg = _one_line_error(capsys, ["run", "--check", str(folder / "c.toml")])
    assert "[grid].resolution" in msg and "larger than the bounds' width" in msg
    assert f"250 m is about {250 / DEG_M:.3g} degrees" in msg  # 0.00225


def test_degrees_on_a_metre_grid_are_refused(folder, capsys):
    text = CONFIG.replace('"EPSG:4326"', '"EPSG:32647"').replace("[100.0, 40.0, 100.2, 40.1]", "[500000, 4400000, 520000, 4410000]")
    (folder / "c.toml").write_text(text, encoding="utf-8")
    msg = _one_line_error(capsys, ["run", "--check", str(folder / "c.toml")])
    assert "[grid].resolution" in msg and "0.00225 (metre)" in msg
    assert f"0.00225 degrees is about {0.00225 * DEG_M:.4g} (metre)" in msg  # 250.5 m
    with pytest.raises(GridError):
        load_config(folder / "c.toml").grid()


def test_bounds_in_metres_on_a_degree_grid_reach_beyond_the_poles():
    with pytest.raises(GridError, match=r"latitudes .* reach beyond the poles"):
        Grid.from_bounds(500_000, 4_400_000, 520_000, 4_410_000, 250.0, "EPSG:4326")
    with pytest.raises(GridError, match="more than 360"):
        Grid.from_bounds(-400.0, 0.0, 400.0, 10.0, 1.0, "EPSG:4326")


def test_grids_that_fit_their_units_still_build():
    # a global grid whose last row reaches past -90 by less than a pixel, and a 1 km equal-area grid
    g = Grid.from_bounds(-180.0, -90.0, 180.0, 90.0, 0.007, "EPSG:4326")
    assert g.bounds[1] > -90 - 0.007 and g.shape == (25715, 51429)
    assert Grid.from_bounds(0, 0, 40_000, 30_000, 1000, "EPSG:6933").shape == (30, 40)


# ---- output folders -------------------------------------------------------------------------------------
def test_output_dir_that_is_a_file(folder, capsys):
    (folder / "out").write_text("not a folder")
    (folder / "c.toml").write_text(CONFIG, encoding="utf-8")
    for argv in (["run", "--check", str(folder / "c.toml")], ["run", str(folder / "c.toml")]):
        msg = _one_line_error(capsys, argv)
        assert f"[run].output_dir: {folder / 'out'} is a file, not a folder" in msg and "fix:" in msg


def test_output_dir_below_a_file(folder):
    (folder / "out").write_text("not a folder")
    with pytest.raises(OutputError, match="cannot be created: .* is a file"):
        check_output_folder(folder / "out" / "sub", "[run].output_dir")


def test_output_path_through_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    grid = Grid.from_bounds(100.0, 40.0, 100.02, 40.02, 0.01, "EPSG:4326")
    for target in (tmp_path / "afile" / "x.csv", tmp_path / "afile" / "sub" / "x.csv"):
        with pytest.raises(OutputError, match=f"{target}: cannot write: {tmp_path / 'afile'} is a file, not a folder"):
            write_text_atomic(target, "x")
    with pytest.raises(OutputError, match=f"cannot write: {tmp_path / 'afile'} is a file, not a folder"):
        write_raster(tmp_path / "afile" / "x.tif", as_dataarray(np.ones(grid.shape, "float32"), grid))



def test_output_file_that_is_an_existing_folder(tmp_path, capsys):
    # the final rename onto a folder (IsADirectoryError) is an OutputError naming the output, for every writer,
    # and a command exits 2 with one line instead of a traceback
    grid = Grid.from_bounds(100.0, 40.0, 100.02, 40.02, 0.01, "EPSG:4326")
    for name in ("x.csv", "x.tif"):
        (tmp_path / name).mkdir()
    with pytest.raises(OutputError, match=f"{tmp_path / 'x.csv'}: cannot write: the output is an existing folder"):
        write_text_atomic(tmp_path / "x.csv", "x")
    with pytest.raises(OutputError, match=f"{tmp_path / 'x.tif'}: cannot write: the output is an existing folder"):
        write_raster(tmp_path / "x.tif", as_dataarray(np.ones(grid.shape, "float32"), grid))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv", "x.tif"]  # no partial file left
    dem = tmp_path / "dem.tif"
    write_raster(dem, as_dataarray(np.linspace(100, 300, grid.size, dtype="float32").reshape(grid.shape), grid))
    assert main(["suitability", "slope", str(dem), str(tmp_path / "x.tif")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("irrmap: error: ") and "is an existing folder" in err[-1] and "Traceback" not in "".join(err)


@contextlib.contextmanager
def _mounted_tmpfs(path, options: str):
    """A tmpfs at `path` (needs root; the test is skipped where mounting is not possible)."""
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def readonly_folder(tmp_path):
    """A folder this process cannot write to: a read-only mount as root (root ignores file modes), else mode 555."""
    if os.geteuid() == 0:
        with _mounted_tmpfs(tmp_path / "ro", "ro,size=64k") as p:
            yield p, "read-only file system"
    else:
        p = tmp_path / "ro"
        p.mkdir()
        p.chmod(0o555)
        yield p, "permission denied"
        p.chmod(0o755)


def test_read_only_output_folder(folder, readonly_folder, capsys):
    ro, cause = readonly_folder
    with pytest.raises(OSError) as truth:  # the kernel's own answer
        (ro / "probe").write_text("x")
    assert truth.value.errno in (errno.EROFS, errno.EACCES)
    (folder / "c.toml").write_text(CONFIG.replace('output_dir = "out"', f'output_dir = "{ro / "out"}"'), encoding="utf-8")
    for argv in (["run", "--check", str(folder / "c.toml")], ["run", str(folder / "c.toml")]):
        msg = _one_line_error(capsys, argv)
        assert f"[run].output_dir: cannot write to {ro}: {cause}" in msg and "fix:" in msg
    with pytest.raises(OutputError, match=f"{ro / 'x.txt'}: cannot write: {cause}"):
        write_text_atomic(ro / "x.txt", "x")


# ---- a full disk ----------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    with _mounted_tmpfs(tmp_path / "disk", "size=512k") as p:
        yield p


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("cog", [False, True])
def test_full_disk_geotiff(small_disk, cog):
    grid = Grid.from_bounds(100.0, 40.0, 100.0 + 600 * 0.00225, 40.0 + 600 * 0.00225, 0.00225, "EPSG:4326")
    noise = np.random.default_rng(0).random(grid.shape, dtype="float32")  # 1.4 MB that deflate cannot shrink
    out = small_disk / "noise.tif"
    with pytest.raises(OutputError) as exc:
        write_raster(out, as_dataarray(noise, grid), cog=cog)
    assert str(exc.value).startswith(f"{out}: cannot write: No space left on device (fix: free disk space")
    assert _leftovers(small_disk) == []  # no partial file stays behind


def test_full_disk_text_and_tables(small_disk):
    with pytest.raises(OutputError, match=f"{small_disk / 'big.txt'}: cannot write: No space left on device"):
        write_text_atomic(small_disk / "big.txt", "x" * 1_000_000)
    import pandas as pd

    with pytest.raises(OutputError, match=f"{small_disk / 'big.parquet'}: cannot write: No space left on device"):
        with atomic_path(small_disk / "big.parquet") as tmp:
            pd.DataFrame({"v": np.random.default_rng(1).random(200_000)}).to_parquet(tmp)
    assert _leftovers(small_disk) == []


def test_full_disk_stops_a_run_with_one_line(folder, small_disk, capsys):
    grid = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.0002, "EPSG:4326")  # 500 x 1000 noise: 2 MB that deflate cannot shrink
    write_raster(folder / "dem.tif", as_dataarray(np.random.default_rng(2).random(grid.shape, dtype="float32"), grid), cog=False)
    (small_disk / "filler").write_bytes(b"\0" * (512 * 1024 - 160 * 1024))  # 160 kB left: the checks pass, the outputs do not fit
    text = CONFIG.replace('output_dir = "out"', f'output_dir = "{small_disk / "out"}"').replace("0.00225", "0.0002")
    (folder / "c.toml").write_text(text, encoding="utf-8")
    msg = _one_line_error(capsys, ["-q", "run", str(folder / "c.toml")])
    assert "No space left on device" in msg and str(small_disk / "out") in msg and "fix: free disk space" in msg
