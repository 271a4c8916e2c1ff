"""One file for two roles is refused before the run, naming both keys.

Before, the demo with [inputs.precipitation].path = the PET file ran: P / PET = 1.0 everywhere (the aridity
factor carried no information) and the design-based OA fell from 0.717 to 0.709. Truth here: which files hold
the same bytes is decided independently by hashlib; files with different bytes, different layers of one file and
different class sets of one land-cover file (the demo's cropland / forest_grass / other_cover) must pass.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.context import RunContext
from irrmap.app.pipeline import plan_stages
from irrmap.app.stages.distinct import check_distinct_roles
from irrmap.core.config import load_config
from irrmap.core.errors import IrrmapError


def _tif(path: Path, values, descriptions=None) -> Path:
    arr = np.asarray(values, dtype="float32")
    arr = arr[None] if arr.ndim == 2 else arr
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0], dtype="float32",
                       crs="EPSG:4326", transform=from_origin(104.0, 38.0, 0.01, 0.01)) as dst:
        dst.write(arr)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return path


def _files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("dem", "water", "precipitation", "pet", "cropland", "landcover"):
        _tif(tmp_path / f"{name}.tif", rng.uniform(1, 500, (20, 20)))
    _tif(tmp_path / "climate.tif", rng.uniform(1, 500, (2, 20, 20)), ["P", "PET"])
    (tmp_path / "units.gpkg").write_bytes(b"x")


def _ctx(tmp_path: Path, inputs: dict, suitability: str = "", extra: str = "") -> RunContext:
    _files(tmp_path)
    text = '[grid]\ncrs = "EPSG:4326"\nbounds = [104.0, 37.8, 104.2, 38.0]\nresolution = 0.01\n'
    text += '[units]\npath = "units.gpkg"\ncode_field = "code"\n'
    for name, body in inputs.items():
        text += f"[inputs.{name}]\n{body}\n"
    text += suitability or '[suitability]\ndem = "dem"\nwater = "water"\nprecipitation = "precipitation"\npet = "pet"\ncropland = "cropland"\n'
    cfg = tmp_path / "run.toml"
    cfg.write_text(text + extra)
    loaded = load_config(cfg)
    return RunContext(loaded, loaded.grid(), loaded.output_dir)


def _inputs(**paths) -> dict:
    base = {n: f'path = "{n}.tif"' for n in ("dem", "water", "precipitation", "pet", "cropland")}
    base.update(paths)
    return base


def test_distinct_files_pass(tmp_path):
    check_distinct_roles(_ctx(tmp_path, _inputs()))


def test_the_pet_file_as_precipitation_is_refused_naming_both_keys(tmp_path):
    ctx = _ctx(tmp_path, _inputs(precipitation='path = "pet.tif"'))
    with pytest.raises(IrrmapError) as err:
        plan_stages(ctx, stages=[])  # what `irrmap run` and `irrmap run --check` check before any work
    msg = str(err.value)
    assert "[suitability].precipitation" in msg and "[suitability].pet" in msg and "[inputs.precipitation].path = pet.tif" in msg
    assert "the same file" in msg


def test_a_byte_identical_copy_and_a_link_are_refused(tmp_path):
    _files(tmp_path)
    shutil.copy(tmp_path / "dem.tif", tmp_path / "slope_copy.tif")
    os.symlink(tmp_path / "pet.tif", tmp_path / "pet_link.tif")
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()
    assert digest(tmp_path / "dem.tif") == digest(tmp_path / "slope_copy.tif")
    ctx = _ctx(tmp_path, _inputs(water='path = "slope_copy.tif"', precipitation='path = "pet_link.tif"'))
    with pytest.raises(IrrmapError) as err:
        check_distinct_roles(ctx)
    msg = str(err.value)
    assert "2 problems" in msg
    assert "[suitability].dem / [suitability].water" in msg and "identical bytes (same SHA-256)" in msg
    assert "[suitability].precipitation / [suitability].pet" in msg


def test_same_size_files_with_different_bytes_pass(tmp_path):
    _files(tmp_path)
    sizes = {os.path.getsize(tmp_path / f"{n}.tif") for n in ("dem", "water", "precipitation", "pet")}
    assert len(sizes) == 1  # the same grid and dtype: only the bytes tell them apart
    check_distinct_roles(_ctx(tmp_path, _inputs()))


def test_layers_of_one_file_differ_unless_they_are_the_same_layer(tmp_path):
    good = _inputs(precipitation='path = "climate.tif"\nband = "P"', pet='path = "climate.tif"\nband = 2')
    check_distinct_roles(_ctx(tmp_path, good))
    same = _inputs(precipitation='path = "climate.tif"\nband = "PET"', pet='path = "climate.tif"\nband = 2')  # "PET" is layer 2
    with pytest.raises(IrrmapError, match=r"\[suitability\].precipitation / \[suitability\].pet.*layer 2"):
        check_distinct_roles(_ctx(tmp_path, same))


def test_fractions_of_different_classes_pass_and_one_product_in_two_roles_is_refused(tmp_path):
    inputs = _inputs(cropland='path = "landcover.tif"\nkind = "fraction"\nclasses = [1]',
                     forest_grass='path = "landcover.tif"\nkind = "fraction"\nclasses = [2, 3, 4]')
    extra = '[features]\nevi = "dem.tif"\nnatural = "forest_grass"\nother = "forest_grass"\n'
    with pytest.raises(IrrmapError) as err:
        check_distinct_roles(_ctx(tmp_path, inputs, extra=extra))
    msg = str(err.value)
    assert "[features].natural / [features].other" in msg and "[features].cropland" not in msg  # classes [1] differ from [2, 3, 4]
    suit = '[suitability]\ndem = "dem"\nwater = "dem"\naridity = "precipitation"\ncropland = "cropland"\n'
    with pytest.raises(IrrmapError, match=r"\[suitability\].dem / \[suitability\].water"):
        check_distinct_roles(_ctx(tmp_path, _inputs(), suitability=suit))


def test_series_sources_must_differ_and_qa_may_be_shared(tmp_path):
    shared_qa = '[features]\nnir = { source = "dem.tif", qa = "cropland.tif" }\ngreen = { source = "water.tif", qa = "cropland.tif" }\n'
    check_distinct_roles(_ctx(tmp_path, _inputs(), extra=shared_qa))
    same = '[features]\nnir = "pet.tif"\ngreen = "pet.tif"\n'  # GI = NIR / green would be 1.0 everywhere
    with pytest.raises(IrrmapError, match=r"\[features\].nir.source / \[features\].green.source"):
        check_distinct_roles(_ctx(tmp_path, _inputs(), extra=same))


def test_epochs_may_share_scenes_across_layers_but_not_across_epochs(tmp_path):
    _files(tmp_path)
    ok = '[water]\nepochs = { 1995 = ["dem.tif"], 2020 = ["water.tif"] }\n[treecover]\nreference = "cropland.tif"\nepochs = { 1995 = ["dem.tif"], 2020 = ["water.tif"] }\n'
    check_distinct_roles(_ctx(tmp_path, _inputs(), extra=ok))
    bad = '[water]\nepochs = { 1995 = ["dem.tif"], 2020 = ["dem.tif", "water.tif", "water.tif"] }\n'
    with pytest.raises(IrrmapError) as err:
        check_distinct_roles(_ctx(tmp_path, _inputs(), extra=bad))
    msg = str(err.value)
    assert "[water].epochs.1995 / [water].epochs.2020[0]" in msg and "epoch 1995 and epoch 2020" in msg
    assert "[water].epochs.2020[1] / [water].epochs.2020[2]" in msg and "one file listed twice" in msg


def test_reconcile_tables_of_the_same_rows_are_refused(tmp_path):
    (tmp_path / "county.csv").write_text("code,area,variant\n610102,1.0,actual\n610102,1.2,effective\n")
    table = 'path = "county.csv"\ncode_field = "code"\narea_field = "area"\narea_unit = "ha"\nvariant_field = "variant"\n'
    two = f'[reconcile.tables.a]\n{table}variant = "actual"\n[reconcile.tables.b]\n{table}variant = "effective"\n'
    check_distinct_roles(_ctx(tmp_path, _inputs(), extra=two))  # the demo's pattern: one file, two variants
    with pytest.raises(IrrmapError, match=r"\[reconcile.tables.a\] / \[reconcile.tables.b\]"):
        check_distinct_roles(_ctx(tmp_path, _inputs(), extra=two.replace('"effective"\n', '"actual"\n')))
