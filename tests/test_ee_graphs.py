"""Earth Engine catalogue and computation graphs, offline: every dataset's graph is built with earthengine-api's
own test harness (ee.apitestcase.ApiTestCase: recorded algorithm signatures, no network) and compared with a
recorded golden JSON in tests/data/ee_golden/ (regenerate with IRRMAP_UPDATE_GOLDEN=1 after a deliberate change);
the alignment and QA bits are checked against hand-written values from the product guides."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from irrmap.core.errors import ConfigError, InputError
from irrmap.core.grid import Grid
from irrmap.sources.ee.catalog import CATALOG, EEDataset, dataset_from_config
from tests.ee_offline import offline_ee

GOLDEN = Path(__file__).parent / "data" / "ee_golden"
UPDATE = os.environ.get("IRRMAP_UPDATE_GOLDEN") == "1"
# A 100 x 100 grid of 250 m pixels in UTM 51N, upper-left corner (500000, 6400000): written out by hand.
GRID = Grid("EPSG:32651", Affine(250.0, 0.0, 500000.0, 0.0, -250.0, 6400000.0), 100, 100)
GRID_TRANSFORM = [250.0, 0.0, 500000.0, 0.0, -250.0, 6400000.0]


@pytest.fixture
def ee_offline():
    with offline_ee() as ee:
        yield ee



def _graphs(ee, ds: EEDataset, grid: Grid = GRID) -> dict:
    from irrmap.sources.ee.graphs import build_images

    images = build_images(ds, start="2010-01-01", end="2011-01-01", grid=grid)
    return {name: json.loads(ee.serializer.toJSON(img)) for name, img in images.items()}


def _calls(node, name: str) -> list[dict]:
    """The arguments of every invocation of `name` in a serialised graph."""
    found = []
    if isinstance(node, dict):
        fi = node.get("functionInvocationValue")
        if fi and fi.get("functionName") == name:
            found.append(fi["arguments"])
        for v in node.values():
            found += _calls(v, name)
    elif isinstance(node, list):
        for v in node:
            found += _calls(v, name)
    return found


def _constant(graph: dict, node: dict):
    """The number an argument node holds: through value references, an ee.Image.constant or a constant."""
    while "valueReference" in node:
        node = graph["values"][node["valueReference"]]
    fi = node.get("functionInvocationValue")
    return _constant(graph, fi["arguments"]["value"]) if fi else node["constantValue"]


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_graph_matches_golden(ee_offline, name):
    """All outputs of a dataset serialised together (shared nodes once), one JSON node per line."""
    from irrmap.sources.ee.graphs import build_images

    images = build_images(CATALOG[name], start="2010-01-01", end="2011-01-01", grid=GRID)
    got = json.dumps(json.loads(ee_offline.serializer.toJSON(images)), indent=1, sort_keys=True) + "\n"
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
    if not path.exists():
        pytest.fail(f"no golden graph {path}; record it with IRRMAP_UPDATE_GOLDEN=1")
    want = path.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), f"golden/{name}.json", "built", n=2))
        pytest.fail(f"the {name} graph changed (IRRMAP_UPDATE_GOLDEN=1 records it if intended):\n{diff[:6000]}")


def test_golden_diff_is_readable(ee_offline):
    """A changed constant shows as one -/+ line pair naming it (not one long line)."""
    ds = CATALOG["srtm"]
    a = json.dumps(_graphs(ee_offline, ds), indent=1, sort_keys=True).splitlines()
    b = json.dumps(_graphs(ee_offline, EEDataset(**{**ds.__dict__, "nodata": -1.0})), indent=1, sort_keys=True).splitlines()
    changed = [l for l in difflib.unified_diff(a, b, n=0, lineterm="") if l[:1] in "+-" and l[:3] not in ("+++", "---")]
    assert [l[0] + l[1:].strip() for l in changed] == ['-"constantValue": -9999.0', '+"constantValue": -1.0']


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_reproject_pins_the_grid_lattice(ee_offline, name):
    """Every output is reprojected once, in the grid's CRS with the grid's own transform (pixel corner)."""
    for out, graph in _graphs(ee_offline, CATALOG[name]).items():
        calls = _calls(graph, "Image.reproject")
        assert len(calls) == 1, out
        assert calls[0]["crsTransform"]["constantValue"] == GRID_TRANSFORM
        crs = calls[0]["crs"]
        while "valueReference" in crs:  # a Projection also used elsewhere (setDefaultProjection) is shared
            crs = graph["values"][crs["valueReference"]]
        assert _calls(crs, "Projection")[0]["crs"]["constantValue"] == "EPSG:32651"


def test_grid_without_epsg_code_is_sent_as_wkt(ee_offline):
    from rasterio.crs import CRS

    sinu = CRS.from_proj4("+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs")
    grid = Grid(sinu, Affine(231.656358264, 0.0, -6189166.0, 0.0, -231.656358264, -1234567.0), 10, 10)
    call = _calls(_graphs(ee_offline, CATALOG["mod13q1"], grid)["ndvi_max"], "Image.reproject")[0]
    wkt = _calls(call["crs"], "Projection")[0]["crs"]["constantValue"]
    assert CRS.from_wkt(wkt) == sinu
    assert call["crsTransform"]["constantValue"] == [231.656358264, 0.0, -6189166.0, 0.0, -231.656358264, -1234567.0]


def test_vi_quality_bits_are_the_user_guide_fields(ee_offline):
    """MOD13 C6.1 User's Guide table 5 under the default rule: MODLAND bits 0-1 (mask 3), usefulness bits 2-5
    (shift 2, mask 15, <= 12), mixed clouds bit 10, snow/ice bit 14, shadow bit 15 (mask 1, == 0); fill 65535."""
    graph = _graphs(ee_offline, CATALOG["mod13q1"])["ndvi_max"]
    def consts(op):
        return sorted({_constant(graph, c["image2"]) for c in _calls(graph, op)})

    assert consts("Image.rightShift") == [2, 10, 14, 15]
    assert consts("Image.bitwiseAnd") == [1, 3, 15]
    assert consts("Image.lte") == [1, 12, 10000]  # MODLAND <= 1, usefulness <= 12, valid range top
    assert consts("Image.neq") == [-3000, 65531, 65535]  # the two VI fill values, the QA fill
    assert consts("Image.eq") == [0]  # each single-bit flag must be clear


def test_qa_masks_replayed_on_every_word_match_the_guides(ee_offline):
    """All 65536 quality words through the replayed graphs against the product guides' tables, written here:
    MOD13Q1 VI_Quality (default rule, see above); Landsat 8 QA_PIXEL (LSDS-1619: keep when fill 0, dilated
    cloud 1, cirrus 2, cloud 3, shadow 4, snow 5 are clear; water bit 7 allowed); Landsat 5 (no cirrus);
    Sentinel-2 SCL (keep 4 vegetation, 5 not vegetated, 6 water, 7 unclassified)."""
    from irrmap.sources.ee.replay import RImage, replay

    w = np.arange(65536, dtype=np.int64).reshape(256, 256)
    grid = Grid("EPSG:32651", Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 6400000.0), 256, 256)
    one = lambda bands: [RImage.of(bands, grid, date="2010-05-01")]

    def kept(ds, output, bands):
        return replay(_graphs(ee_offline, ds, grid)[output], {ds.collection: one(bands)}, grid).bands[output] != ds.nodata

    bit = lambda n: (w >> n) & 1
    vi = (np.isin(w & 3, [0, 1]) & (((w >> 2) & 15) <= 12) & (bit(10) == 0) & (bit(14) == 0) & (bit(15) == 0) & (w != 65535))
    assert np.array_equal(kept(CATALOG["mod13q1"], "ndvi_max", {"EVI": w * 0 + 5000, "NDVI": w * 0 + 5000, "DetailedQA": w}), vi)
    assert vi.sum() == 2 * 13 * 2 ** 7  # MODLAND 2 of 4 values, usefulness 13 of 16, bits 6-9 and 11-13 free, 10/14/15 clear

    sr = {f"SR_B{i}": w * 0 + 10000 for i in range(1, 8)}
    l8 = np.all([bit(n) == 0 for n in (0, 1, 2, 3, 4, 5)], axis=0)
    assert np.array_equal(kept(CATALOG["landsat8"], "nir", {**sr, "QA_PIXEL": w}), l8)
    l5 = np.all([bit(n) == 0 for n in (0, 1, 3, 4, 5)], axis=0)
    assert np.array_equal(kept(CATALOG["landsat5"], "nir", {**sr, "QA_PIXEL": w}), l5)
    scl = np.isin(w, [4, 5, 6, 7])
    s2 = {b: w * 0 + 1000 for b in ("B2", "B3", "B4", "B8", "B11", "B12")}
    assert np.array_equal(kept(CATALOG["sentinel2"], "nir", {**s2, "SCL": w}), scl)


def test_scales_are_the_product_guides():
    """Hand-copied from the product guides / Earth Engine catalogue pages, not from irrmap's tables."""
    assert (CATALOG["mod13q1"].scale, CATALOG["mod09a1"].scale) == (0.0001, 0.0001)
    assert (CATALOG["landsat8"].scale, CATALOG["landsat8"].offset) == (0.0000275, -0.2)  # LSDS-1619 table 6-1
    assert CATALOG["landsat8"].bands == ("SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7", "QA_PIXEL")
    assert CATALOG["landsat5"].bands == ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7", "QA_PIXEL")
    assert CATALOG["sentinel2"].bands == ("B2", "B3", "B4", "B8", "B11", "B12", "SCL")
    assert CATALOG["terraclimate_pet"].scale == 0.1 and CATALOG["terraclimate_precipitation"].scale == 1.0


def test_gi_cap_is_the_feature_stage_cap():
    from irrmap.training.indices import MAX_GI as FEATURES_MAX_GI

    from irrmap.sources.ee.graphs import MAX_GI

    assert MAX_GI == FEATURES_MAX_GI


def test_outputs_use_the_file_source_names():
    """The [inputs.NAME] names of the demo config and the [features] composite names."""
    from irrmap.app.demo.config import config_text
    from irrmap.app.demo.spec import DemoSpec

    text = config_text(DemoSpec())
    for name in ("dem", "water", "cropland", "precipitation", "pet"):
        assert f"[inputs.{name}]" in text
        assert any(name in d.outputs for d in CATALOG.values())
    assert set(CATALOG["mod13q1"].outputs) >= {"evi_max", "ndvi_max"}
    assert CATALOG["mod09a1"].outputs == ("gi_max", "ndwi_max")


def test_catalog_import_does_not_import_ee():
    code = "import sys, irrmap.sources.ee, irrmap.sources.ee.catalog, irrmap.sources.ee.graphs; assert 'ee' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_earthengine_api_the_error_names_the_extra(monkeypatch):
    from irrmap.sources.ee.graphs import build_images

    monkeypatch.setitem(sys.modules, "ee", None)  # import ee -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'irrmap\[ee\]'"):
        build_images(CATALOG["srtm"], start="2010-01-01", end="2011-01-01", grid=GRID)


def test_user_entry_from_config():
    ds = dataset_from_config("chirps", {"collection": "UCSB-CHG/CHIRPS/DAILY", "bands": ["precipitation"],
                                        "outputs": ["precipitation"], "reducer": "sum", "resampling": "bilinear",
                                        "native_scale_m": 5566})
    assert (ds.kind, ds.dtype, ds.nodata, ds.scale, ds.recipe) == ("collection", "float32", -9999.0, 1.0, "bands")
    based = dataset_from_config("ndvi", {"base": "mod13q1", "bands": ["NDVI", "DetailedQA"], "outputs": ["ndvi_max"]})
    assert (based.collection, based.qa, based.value_bands) == ("MODIS/061/MOD13Q1", "vi_quality", ("NDVI",))


@pytest.mark.parametrize("entry, where, fix", [
    ({"collection": "X", "bands": ["a"], "outputs": ["a"], "colour": 1}, "sources.ee.catalog.mine", "use ["),
    ({"bands": ["a"], "outputs": ["a"]}, "sources.ee.catalog.mine", "collection id"),
    ({"collection": "X", "bands": ["a"], "outputs": ["a"], "resampling": "cubic"}, "sources.ee.catalog.mine.resampling", "nearest"),
    ({"collection": "X", "bands": ["a"], "outputs": ["a"], "qa": "scl"}, "sources.ee.catalog.mine.bands", "add 'SCL'"),
    ({"collection": "X", "bands": ["a", "b"], "outputs": ["a"]}, "sources.ee.catalog.mine.outputs", "one output name per value band"),
    ({"base": "modis", "outputs": ["a"]}, "sources.ee.catalog.mine.base", "mod13q1"),
    ({"base": "mod13q1", "outputs": ["ndvi_p90"]}, "sources.ee.catalog.mine.outputs", "_<one of max, median, count>"),
    ({"collection": "X", "bands": ["a"], "outputs": ["a"], "dtype": "float128x"}, "sources.ee.catalog.mine.dtype", "float32"),
])
def test_bad_user_entries_name_the_key_and_fix(entry, where, fix):
    with pytest.raises(ConfigError) as err:
        dataset_from_config("mine", entry)
    assert err.value.where == where and fix in err.value.fix


def test_replay_refuses_unknown_operators_and_shifted_grids(ee_offline):
    from irrmap.sources.ee.replay import RImage, replay

    img = RImage.of({"elevation": np.arange(16.0).reshape(4, 4)}, GRID.window_grid(_window(0, 0, 4, 4)))
    with pytest.raises(InputError, match="Image.sqrt"):
        replay(ee_offline.serializer.toJSON(ee_offline.Image("A").sqrt()), {"A": img}, GRID)
    graph = _graphs(ee_offline, CATALOG["srtm"])["dem"]
    half = Grid(GRID.crs, GRID.transform * Affine.translation(0.5, 0), 4, 4)
    with pytest.raises(InputError, match="not on the reproject lattice"):
        replay(graph, {"USGS/SRTMGL1_003": img}, half)


def _window(r, c, h, w):
    from rasterio.windows import Window

    return Window(c, r, w, h)
