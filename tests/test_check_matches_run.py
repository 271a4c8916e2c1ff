"""`irrmap run --check` fails exactly when the run's first stage that reads the thing fails.

A probe got "config OK" from --check on a real-data config (Mato Grosso, MODIS sinusoidal, 23 MOD13Q1 dates of 7
layers, already-scaled floats) and then the run failed:

- the features stage read the default product names forest_grass / other_cover unconditionally while its check
  skipped them (not produced by any input): now the stage reads exactly what it checks (features.read_names): the
  default shares only when produced, `other` not at all with `mixed = false` (it only feeds the mixed-pixel rule,
  METHOD.md section 1), an empty name nothing; the role check no longer compares a share the run does not read;
- a preset's scale on already-scaled floats (check_scaled_once) was refused only when the run built the series:
  --check now builds the same composites graph (features.check_values) without computing;
- a [statistics] table without `level` under [units] hierarchy 'none' was at level 'county', which that hierarchy
  does not have: the default is now the hierarchy's finest level (config.FINEST_LEVEL, equal to the first level of
  irrmap.core.units.SCHEMES), and the finest-level error's fix names the level to give.

An input raster that misses the grid ([water].reference, [treecover].reference and .truth) was refused by the
run's guard at the start of its stage (irrmap.app.valid_guard) but not by --check; now both check the same list of
files (valid_guard.source_inputs), with the same message, and the run refuses it before writing anything.

Each case compares irrmap.app.api.check with irrmap.app.api.run on the same config. Inputs are written here with
rasterio/geopandas on the grid of the real MOD13Q1 files (27 x 37 pixels: small runs).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_bounds
from shapely.geometry import box

from irrmap.app.api import check, run
from irrmap.app.cli import main
from irrmap.core.errors import ConfigError, DataError, InputError, IrrmapError

GRID = """[grid]
crs = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
bounds = [{}, {}, {}, {}]
resolution = {}
"""


@pytest.fixture
def mt(shared_data, tmp_path):
    """A folder with a cropland share (0.6), two units and their statistics on the grid of the first MOD13Q1 file,
    and a writer of configs (the features series read from the shared folder, layer 1 NDVI, layer 2 EVI)."""
    folder = shared_data / "modis" / "matogrosso_mod13q1"
    files = sorted(folder.glob("MOD13Q1_*.tif"))
    if len(files) != 23:
        pytest.skip("the Mato Grosso MOD13Q1 subset is absent")
    with rasterio.open(files[0]) as src:
        profile = dict(src.profile, count=1, dtype="float32", nodata=None)
        b, res, crs = src.bounds, src.res[0], src.crs
    for name, value in (("cropland", 0.6), ("zeros", 0.0), ("zeros2", 0.0)):
        with rasterio.open(tmp_path / f"{name}.tif", "w", **profile) as dst:
            dst.write(np.full((1, profile["height"], profile["width"]), value, np.float32))
    mid = (b.left + b.right) / 2
    gpd.GeoDataFrame({"code": ["A1", "A2"]}, geometry=[box(b.left, b.bottom, mid, b.top), box(mid, b.bottom, b.right, b.top)],
                     crs=crs).to_file(tmp_path / "units.gpkg")
    (tmp_path / "stats.csv").write_text("code,irrigated_ha\nA1,1500\nA2,2000\n")
    grid = GRID.format(b.left, b.bottom, b.right, b.top, res)

    def write(features: str = "mixed = false", *, preset: str = "", inputs: str = "", level: str = 'level = "unit"',
              training: bool = False, name: str = "mt.toml"):
        def series(band):
            return f'{{ source = "{folder}/", band = {band}{preset} }}'

        text = (f'[run]\noutput_dir = "out_{name[:-5]}"\n{grid}[inputs.cropland]\npath = "cropland.tif"\nkind = "continuous"\n{inputs}'
                '[units]\npath = "units.gpkg"\ncode_field = "code"\nhierarchy = "none"\n'
                '[statistics]\npath = "stats.csv"\ncode_field = "code"\narea_field = "irrigated_ha"\narea_unit = "ha"\n'
                f'{level}\n[features]\n{features}\nndvi = {series(1)}\nevi = {series(2)}\n')
        if training:
            text += '[training]\nscores = ["nevi", "nndvi"]\ncropland = "cropland"\n'
        (tmp_path / name).write_text(text)
        return tmp_path / name

    return write


def _outcome(call, path):
    """None when `call(path)` passes, else the error it raises."""
    try:
        call(path)
    except IrrmapError as exc:
        return exc
    return None


def _same(path):
    """--check's and the run's outcome of one config, asserted to agree; the error (or None)."""
    checked, ran = _outcome(check, path), _outcome(run, path)
    assert (checked is None) == (ran is None), f"--check: {checked!r}; run: {ran!r}"
    return checked


def test_default_shares_not_produced_with_mixed_off_pass_both(mt):
    # the probe's case: the run stopped in features on 'forest_grass' after --check said OK
    assert _same(mt("mixed = false", training=True)) is None


def test_default_shares_not_produced_with_mixed_on_pass_both_and_warn(mt, caplog):
    path = mt("", name="mixed.toml")
    with caplog.at_level(logging.WARNING, logger="irrmap"):
        check(path)
    assert any("mixed-pixel adjustment skipped" in r.getMessage() for r in caplog.records)  # --check warns as the run will
    assert _same(path) is None


def test_named_share_not_produced_fails_both(mt):
    err = _same(mt('mixed = false\nnatural = "forest"', name="named.toml"))
    assert isinstance(err, ConfigError) and "[features].natural" in str(err) and "'forest'" in str(err)


def test_empty_share_name_reads_nothing(mt):
    # the run read nothing for "" while its check refused it as a product name
    assert _same(mt('mixed = false\nnatural = ""', name="empty.toml")) is None


def test_other_share_not_read_with_mixed_off(mt):
    # two constant rasters of identical bytes as forest/grass and other shares: refused as "the same data" although
    # the run, with mixed = false, never reads the other share
    inputs = ('[inputs.forest_grass]\npath = "zeros.tif"\nkind = "continuous"\n'
              '[inputs.other_cover]\npath = "zeros2.tif"\nkind = "continuous"\n')
    assert _same(mt("mixed = false", inputs=inputs, name="dummies.toml")) is None


def test_other_share_read_with_mixed_on_is_checked(mt):
    inputs = '[inputs.forest_grass]\npath = "zeros.tif"\nkind = "continuous"\n'
    err = _same(mt('mixed = true\nother = "urban"', inputs=inputs, name="other.toml"))
    assert isinstance(err, ConfigError) and "[features].other" in str(err)


def test_preset_on_scaled_floats_fails_check_as_run(mt):
    # the MOD13Q1 subset is stored as floats already scaled (NDVI max 0.8..1.0): x 0.0001 again is refused
    err = _same(mt("mixed = false", preset=', preset = "mod13q1"', name="preset.toml"))
    assert isinstance(err, InputError) and "already look scaled" in str(err) and "0.0001" in str(err)
    assert "MOD13Q1_20110914" in str(err)


def test_statistics_level_defaults_to_the_finest_level(mt):
    # hierarchy 'none' has the one level 'unit' (irrmap.core.units.SCHEMES)
    assert _same(mt("mixed = false", level="", training=True, name="nolevel.toml")) is None


def test_coarser_level_error_names_the_level_to_give(mt):
    err = check_error = _outcome(check, mt("mixed = false", level='level = "county"', training=True, name="county.toml"))
    assert check_error is not None
    errors = getattr(err, "errors", [err])
    split = [e for e in errors if isinstance(e, DataError) and "finest level" in str(e)]
    assert split and "level = 'unit'" in str(split[0]) and "county statistics" not in str(split[0])


def test_finest_levels_match_the_unit_schemes():
    from irrmap.core.config import FINEST_LEVEL, RunConfig
    from irrmap.core.units import SCHEMES

    assert {h: FINEST_LEVEL[h] for h in SCHEMES} == {h: next(iter(levels)) for h, levels in SCHEMES.items()}
    assert FINEST_LEVEL["fields"] == "unit"  # levels ("unit", *parent_fields)
    base = {"grid": {"crs": "EPSG:4326", "bounds": [0, 0, 1, 1], "resolution": 0.1},
            "statistics": {"path": "s.csv", "code_field": "c", "area_field": "a", "area_unit": "ha"}}
    assert RunConfig.model_validate({**base, "units": {"path": "u.gpkg", "code_field": "c"}}).statistics.level == "county"
    assert RunConfig.model_validate({**base, "units": {"path": "u.gpkg", "code_field": "c", "hierarchy": "none"}}).statistics.level == "unit"
    given = {**base["statistics"], "level": "province"}
    assert RunConfig.model_validate({**base, "statistics": given, "units": {"path": "u.gpkg", "code_field": "c"}}).statistics.level == "province"


# ---- an input raster that misses the grid ---------------------------------------------------------------------
# The run opens every raster a stage reads at the start of the stage and refuses one that does not overlap the grid
# (irrmap.app.valid_guard.check_input). Before, `--check` ran only the stages' own checks, which opened the
# [water].reference and [treecover] reference / truth files but never compared their extent with the grid: `--check`
# said "config OK" (exit 0), the run then stopped with exit 2 and left OUTPUT/manifest.json behind. Now both take the
# files from one list (valid_guard.source_inputs) and give the same one-line error; the run stops before writing
# anything, as the README says. Truth: the off-grid file is written here over the Guyana coast (lon -59.85..-59.71,
# lat 8.30..8.36), the small demo's grid lies in China (lon 104.0..104.3, lat 38.8..39.0): the boxes share no point.
OFF_GRID = (-59.8488, 8.308, -59.71, 8.364)  # west, south, east, north (deg), far from the demo's grid
DEMO_GRID = (104.0, 38.784, 104.288, 39.0)  # the small demo's [grid].bounds (generate_demo rows=96, cols=128)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from irrmap import generate_demo

    out = tmp_path_factory.mktemp("check_run_demo") / "demo"
    generate_demo(out, rows=96, cols=128)
    off = out / "off_grid_mask.tif"  # a 0 / 1 / 255 water mask (also a valid 0..100 cover) far from the grid
    data = np.where(np.arange(40 * 60).reshape(40, 60) % 7 == 0, 255, np.arange(40 * 60).reshape(40, 60) % 2).astype("uint8")
    with rasterio.open(off, "w", driver="GTiff", width=60, height=40, count=1, dtype="uint8", crs="EPSG:4326", nodata=255,
                       transform=from_bounds(*OFF_GRID, 60, 40)) as dst:
        dst.write(data, 1)
    return out


def _config(demo, tmp_path, section: str):
    d = demo.as_posix()
    text = (f'[run]\nname = "t"\noutput_dir = "{(tmp_path / "out").as_posix()}"\n'
            f'[grid]\ncrs = "EPSG:4326"\nbounds = [{", ".join(map(str, DEMO_GRID))}]\nresolution = 0.00225\n'
            + section.replace("DEMO", d))
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    return cfg


WATER = ('[water]\nmethod = "ndwi"\nreference = {{ 2020 = "{ref}" }}\n'
         '[water.epochs]\n1995 = ["DEMO/inputs/landsat/epoch1_1995.tif"]\n2020 = ["DEMO/inputs/landsat/epoch2_2020.tif"]\n')
TREECOVER = ('[treecover]\nreference = "{ref}"\nfit_epoch = "2020"\ntruth = {{ 2020 = "{truth}" }}\n'
             '[treecover.epochs]\n1995 = ["DEMO/inputs/landsat/epoch1_1995.tif"]\n2020 = ["DEMO/inputs/landsat/epoch2_2020.tif"]\n')
GOOD = {"ref_water": "DEMO/truth/landsat/water_epoch2_2020.tif", "ref_tc": "DEMO/inputs/treecover/reference_2020.tif",
        "truth_tc": "DEMO/truth/landsat/treecover_epoch2_2020.tif"}
OFF = "DEMO/off_grid_mask.tif"

CASES = {
    "[water].reference.2020": WATER.format(ref=OFF),
    "[treecover].reference": TREECOVER.format(ref=OFF, truth=GOOD["truth_tc"]),
    "[treecover].truth.2020": TREECOVER.format(ref=GOOD["ref_tc"], truth=OFF),
}


def _error(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("irrmap: error:")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("key", list(CASES))
def test_check_refuses_what_run_refuses_with_the_same_message(demo, tmp_path, capsys, key):
    cfg = _config(demo, tmp_path, CASES[key])
    capsys.readouterr()
    assert main(["-q", "run", "--check", str(cfg)]) == 2
    checked = _error(capsys)
    assert main(["-q", "run", str(cfg)]) == 2
    ran = _error(capsys)
    assert checked == ran
    assert f"{key} = " in ran and "off_grid_mask.tif" in ran and "does not overlap the grid" in ran
    assert not (tmp_path / "out" / "manifest.json").exists()  # refused before writing anything (README)


def test_control_good_inputs_pass_check(demo, tmp_path, capsys):
    """Control (passes on the old code too): the demo's own files on its grid pass `--check`."""
    cfg = _config(demo, tmp_path, WATER.format(ref=GOOD["ref_water"]) + TREECOVER.format(ref=GOOD["ref_tc"], truth=GOOD["truth_tc"]))
    assert main(["-q", "run", "--check", str(cfg)]) == 0
    assert "config OK" in capsys.readouterr().out
