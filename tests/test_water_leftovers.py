"""Water layer leftovers of the 3 px cloud / shadow buffer (docs/water.md):

- `[water] cloud_buffer`: the run's water stage takes the buffer from the config, as `irrmap water mask
  --cloud-buffer` does, and the key counts in the stage's fingerprint; default 3 = Fmask's documented default (Zhu &
  Woodcock 2012; Fmask 4.0 `cloud_buffer` / `shadow_buffer` 3 px);
- the per-pixel transitions of `irrmap water change` agree with the per-body table: a body the table leaves out
  (unobserved, or partly_observed: touching unknown pixels, or too much of it unknown) has no change pixels, so the
  per-pixel "lost permanent" / "new permanent" areas are the areas of the table's "lost" / "new" bodies.

Truth: hand-built epochs on a UTM grid whose cell areas are measured with pyproj.Geod (polygon of each cell's
corners), and the JRC transition rule written out here; the real Flathead 1997 -> 2007 pair when the shared data
is there (a cropped window, to stay fast).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Geod, Transformer

from irrmap.core.config import WaterSection
from irrmap.core.grid import Grid

from conftest import as_dataarray

LANDSAT = Path(__file__).resolve().parents[2] / "shared" / "data" / "landsat"
CHANGE_CLASSES = {2, 3, 5, 6, 7, 8}  # JRC: new / lost permanent / seasonal, seasonal <-> permanent
LEFT_OUT = ("unobserved", "partly_observed")


# ---- 1. [water] cloud_buffer -----------------------------------------------------------------------------------
def test_cloud_buffer_key_default_is_fmask_and_the_commands():
    """Fmask's default dilation of cloud and of cloud shadow is 3 pixels (Zhu & Woodcock 2012; Fmask 4.0's
    documented cloud_buffer / shadow_buffer defaults); the key and `irrmap water mask --cloud-buffer` share it."""
    from irrmap.app.cli import build_parser

    assert WaterSection.model_fields["cloud_buffer"].default == 3
    parser = build_parser()
    args = parser.parse_args(["water", "mask", "o.tif", "s"])
    assert args.cloud_buffer == 3
    assert parser.parse_args(["water", "mask", "o.tif", "s", "--cloud-buffer", "0"]).cloud_buffer == 0


def test_cloud_buffer_key_is_read_and_validated(tmp_path):
    from irrmap.core.config import load_config
    from irrmap.core.errors import ConfigError

    (tmp_path / "a").mkdir()
    grid = '[grid]\ncrs = "EPSG:4326"\nbounds = [100.0, 40.0, 100.2, 40.1]\nresolution = 0.00225\n'
    (tmp_path / "ok.toml").write_text(grid + '[water]\ncloud_buffer = 0\n[water.epochs]\n2020 = ["a"]\n')
    assert load_config(tmp_path / "ok.toml").config.water.cloud_buffer == 0
    for bad in ("-1", "101", "2.5"):
        (tmp_path / "bad.toml").write_text(grid + f'[water]\ncloud_buffer = {bad}\n[water.epochs]\n2020 = ["a"]\n')
        with pytest.raises(ConfigError) as exc:
            load_config(tmp_path / "bad.toml")
        assert "[water].cloud_buffer" in str(exc.value) and "did you mean" not in str(exc.value), bad


def _params(stage, sec):
    ctx = SimpleNamespace(config=SimpleNamespace(water=sec, run=SimpleNamespace(chunk_size=512), units=None))
    return json.dumps(stage.params(ctx), sort_keys=True, default=str)


def test_cloud_buffer_in_fingerprint_and_used_by_the_run(monkeypatch):
    """A changed [water] cloud_buffer changes the stage's params (hashed into its fingerprint by
    irrmap.app.pipeline._fingerprint, so the stage reruns), and the stage reads its scenes with that buffer."""
    from irrmap.app.stages import water
    import irrmap.mapping.water.mask as mask_mod

    stage = water.stage()
    base = WaterSection(epochs={"2020": ["a"]})
    assert _params(stage, base) != _params(stage, base.model_copy(update={"cloud_buffer": 6}))
    assert _params(stage, base) == _params(stage, base.model_copy(update={"cloud_buffer": 3}))  # control: same value, same params

    seen = []

    class Stop(Exception):
        pass

    def fake_read_scenes(paths, **kw):
        seen.append(kw.get("cloud_buffer"))
        raise Stop

    monkeypatch.setattr(mask_mod, "read_scenes", fake_read_scenes)
    monkeypatch.setattr(water, "_order", lambda ctx: ["2020"])
    monkeypatch.setattr(water, "_distinct_scenes", lambda ctx: None)
    sec = WaterSection(epochs={"2020": ["a"]}, cloud_buffer=6)
    ctx = SimpleNamespace(config=SimpleNamespace(water=sec, run=SimpleNamespace(chunk_size=512), units=None),
                          outdir=Path("/nonexistent"), path=lambda p: Path(p))
    with pytest.raises(Stop):
        water.run(ctx)
    assert seen and set(seen) == {6}


# ---- 2. per-pixel transitions agree with the per-body table ----------------------------------------------------
def _cell_areas(grid: Grid) -> np.ndarray:
    """True area (m2) of every cell: pyproj.Geod polygon area of its four corners (WGS84)."""
    to_ll = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    geod = Geod(ellps="WGS84")
    rows, cols = grid.shape
    cc, rr = np.meshgrid(np.arange(cols + 1), np.arange(rows + 1))
    x, y = grid.transform * (cc, rr)
    lon, lat = to_ll.transform(x, y)
    out = np.zeros(grid.shape)
    for r in range(rows):
        for c in range(cols):
            corners = ((r, c), (r, c + 1), (r + 1, c + 1), (r + 1, c))
            out[r, c] = abs(geod.polygon_area_perimeter([lon[k] for k in corners], [lat[k] for k in corners])[0])
    return out


def _epochs():
    """30 x 30 px of 30 m, UTM 11N (Flathead). 1 water, 0 land, 255 unknown."""
    a = np.zeros((30, 30), np.uint8)
    b = np.zeros((30, 30), np.uint8)
    a[2:6, 2:6] = b[2:6, 2:6] = 1  # S: stable lake, far from unknown
    a[2:4, 20:23] = 1  # L: lost, clear around it in both epochs -> lost (6 px)
    a[10:12, 10:12] = 1  # E: lost beside a cloud of epoch B (its own pixels clear in B) -> partly_observed
    b[10:14, 12:16] = 255
    b[20:23, 2:4] = 1  # N: new, clear around it -> new (6 px)
    a[20:22, 24:27] = 255  # F: new beside a shadow of epoch A -> partly_observed
    b[22:24, 24:26] = 1
    a[14:18, 20:26] = 1  # H: 4 x 6 body; in B its first 4 columns water, column 5 land, column 6 unknown:
    b[14:18, 20:24] = 1  #    4 of 24 px unknown (> tolerance 0.1) -> partly_observed (shrunk by overlap)
    b[14:18, 25] = 255
    a[26:28, 12:14] = 1  # U: under cloud in B -> unobserved
    b[25:29, 11:15] = 255
    return a, b


@pytest.fixture(scope="module")
def hand_change(tmp_path_factory):
    from irrmap.mapping.water.bodies import bodies_to_files
    from irrmap.mapping.water.change import change_to_files

    tmp = tmp_path_factory.mktemp("hand_change")
    grid = Grid.from_bounds(700000.0, 5280000.0, 700900.0, 5280900.0, 30.0, "EPSG:32611")
    a, b = _epochs()
    for name, m in (("a", a), ("b", b)):
        bodies_to_files(as_dataarray(m, grid), tmp / name, min_area_m2=0)
    paths = change_to_files(tmp / "c", tmp / "a", tmp / "b")
    with rasterio.open(paths["transitions"]) as src:
        trans = src.read(1)
    ids_a = rasterio.open(tmp / "a" / "body_id.tif").read(1)
    ids_b = rasterio.open(tmp / "b" / "body_id.tif").read(1)
    return SimpleNamespace(grid=grid, a=a, b=b, trans=trans, ids_a=ids_a, ids_b=ids_b, cells=_cell_areas(grid),
                           table=pd.read_csv(paths["change"]), csv=pd.read_csv(paths["transitions_csv"]).set_index("class"))


def test_hand_table_statuses(hand_change):
    """The per-body rules (module docstring of irrmap.mapping.water.change), written out: the premise of the
    per-pixel tests below (passes with the old code too: control)."""
    t, ia, ib = hand_change.table, hand_change.ids_a, hand_change.ids_b
    status_a = {int(ia[r, c]): s for (r, c), s in {(2, 20): "lost", (10, 10): "partly_observed", (26, 12): "unobserved"}.items()}
    for id_a, want in status_a.items():
        assert t.loc[(t.id_a == id_a) & (t.id_b == 0), "status"].item() == want
    for (r, c), want in {(20, 2): "new", (22, 24): "partly_observed", (14, 20): "partly_observed", (2, 2): "stable"}.items():
        assert t.loc[t.id_b == ib[r, c], "status"].item() == want, (r, c)


def test_lost_and_new_pixel_areas_are_the_tables_bodies(hand_change):
    """Per pixel, lost permanent = the table's "lost" bodies (L only: 6 cells) and new permanent = its "new" bodies
    (N only), by Geod cell areas; the partly observed bodies E, F and H have no change pixel."""
    h = hand_change
    t = h.table
    lost_px = h.cells[h.trans == 3].sum()
    new_px = h.cells[h.trans == 2].sum()
    assert lost_px == pytest.approx(h.cells[2:4, 20:23].sum(), rel=1e-9)
    assert new_px == pytest.approx(h.cells[20:23, 2:4].sum(), rel=1e-9)
    assert lost_px == pytest.approx(1e6 * t.loc[t.status == "lost", "area_a_km2"].sum(), rel=1e-6)
    assert new_px == pytest.approx(1e6 * t.loc[t.status == "new", "area_b_km2"].sum(), rel=1e-6)
    assert h.csv.loc[3, "area_km2"] * 1e6 == pytest.approx(lost_px, rel=1e-6)
    assert h.csv.loc[2, "area_km2"] * 1e6 == pytest.approx(new_px, rel=1e-6)
    for sl in (np.s_[10:12, 10:12], np.s_[22:24, 24:26], np.s_[14:18, 24]):  # E, F, H's clear land column
        assert set(np.unique(h.trans[sl]).tolist()) == {255}


def test_left_out_bodies_keep_their_unchanged_pixels(hand_change):
    """H (partly observed) is water in both epochs on its first 4 columns: JRC class 1 permanent stays; the stable
    lake S is permanent and no-water pixels far from the bodies are 0 (control: unchanged rule)."""
    h = hand_change
    assert (h.trans[14:18, 20:24] == 1).all()
    assert (h.trans[2:6, 2:6] == 1).all()
    assert h.trans[8, 28] == 0


def test_no_transition_class_where_either_epoch_is_unknown(hand_change):
    """Control (held before too): a pixel unknown in either epoch's water.tif is 255, never a class."""
    h = hand_change
    assert (h.trans[(h.a == 255) | (h.b == 255)] == 255).all()


def test_every_left_out_body_has_no_change_pixel_and_rule_is_jrc_elsewhere(hand_change):
    """Every pixel: 255 where unknown in either epoch or a change pixel of a left-out body, else JRC's pair class."""
    h = hand_change
    t = h.table
    left_b = set(t.loc[t.status.isin(LEFT_OUT) & (t.id_b > 0), "id_b"])
    left_a = set(t.loc[t.status.isin(LEFT_OUT) & (t.id_b == 0), "id_a"])
    left_a |= set(np.unique(h.ids_a[np.isin(h.ids_b, list(left_b)) & (h.ids_a > 0)]).tolist())
    jrc = {(0, 0): 0, (1, 1): 1, (0, 1): 2, (1, 0): 3}
    for r in range(30):
        for c in range(30):
            pa, pb = int(h.a[r, c]), int(h.b[r, c])
            want = 255 if 255 in (pa, pb) else jrc[(pa, pb)]
            if want in CHANGE_CLASSES and (h.ids_a[r, c] in left_a or h.ids_b[r, c] in left_b):
                want = 255
            assert h.trans[r, c] == want, (r, c)


@pytest.mark.skipif(not (LANDSAT / "flathead_lt5_19970602").is_dir(), reason="shared Flathead scenes not present")
def test_flathead_window_transitions_agree_with_the_table(tmp_path):
    """1997 TM -> 2007 ETM+ on a 100 x 100 px window (rows 280-380, columns 150-250 of the clip: most of the
    shadow-edge "lost" 1997 bodies of the probe): no change pixel belongs to a body the table leaves out, and the per-pixel lost permanent area inside
    bodies is the table's "lost" area (Geod cell areas)."""
    from irrmap.mapping.water.bodies import bodies_to_files
    from irrmap.mapping.water.change import change_to_files
    from irrmap.mapping.water.mask import epoch_mask, mask_layers, read_scenes, write_mask

    first = read_scenes([LANDSAT / "flathead_lt5_19970602"])[0].grid
    t = first.transform
    window = Grid.from_bounds(t.c + 150 * 30, t.f - 380 * 30, t.c + 250 * 30, t.f - 280 * 30, 30.0, first.crs)
    for e in ("lt5_19970602", "le7_20070505"):
        scenes = read_scenes([LANDSAT / f"flathead_{e}"], grid=window)
        mask = write_mask(tmp_path / f"{e}.tif", epoch_mask(scenes), scenes=[e])
        layers = mask_layers(mask)
        bodies_to_files(layers["water"], tmp_path / e, detection=layers["detection"], persistence=layers["persistence"])
    paths = change_to_files(tmp_path / "c", tmp_path / "lt5_19970602", tmp_path / "le7_20070505")
    tab = pd.read_csv(paths["change"])
    trans = rasterio.open(paths["transitions"]).read(1)
    ids_a = rasterio.open(tmp_path / "lt5_19970602" / "body_id.tif").read(1)
    ids_b = rasterio.open(tmp_path / "le7_20070505" / "body_id.tif").read(1)
    left = tab.status.isin(LEFT_OUT)
    assert (tab.status_overlap.isin(["lost", "new"]) & left).any()  # the window holds the case
    left_b = set(tab.loc[left & (tab.id_b > 0), "id_b"])
    left_a = set(tab.loc[left & (tab.id_b == 0), "id_a"]) | set(np.unique(ids_a[np.isin(ids_b, list(left_b)) & (ids_a > 0)]).tolist())
    change_px = np.isin(trans, list(CHANGE_CLASSES))
    assert not (change_px & (np.isin(ids_a, list(left_a)) | np.isin(ids_b, list(left_b)))).any()
    lost_ids = tab.loc[tab.status == "lost", "id_a"].tolist()
    cells = _cell_areas(window)
    in_lost = (trans == 3) & np.isin(ids_a, lost_ids)
    assert cells[in_lost].sum() == pytest.approx(1e6 * tab.loc[tab.status == "lost", "area_a_km2"].sum(), rel=1e-6, abs=1e-6)


def test_body_table_of_a_map_without_bodies_with_zones_is_empty_not_a_crash():
    """A water map without any body (a small or dry region) and admin zones: body_table crashed in _admin with
    "Length mismatch: Expected axis has 2 elements, new values have 3" (an empty Series has no (body, zone) levels;
    the run of a 48 x 64 demo failed at the water stage). Truth: no body id in the labels, so no row; a map with one
    body (control) gets its zone, counted by hand."""
    import numpy as np

    from irrmap.core.grid import Grid
    from irrmap.mapping.water.bodies import body_table

    grid = Grid.from_bounds(500000.0, 5000000.0, 500300.0, 5000300.0, 30.0, "EPSG:32611")
    zones = np.ones((10, 10), np.int32)
    empty = body_table(np.zeros((10, 10), np.uint32), grid=grid, zones=zones)
    assert len(empty) == 0
    one = np.zeros((10, 10), np.uint32)
    one[2:4, 2:5] = 1
    table = body_table(one, grid=grid, zones=zones)
    assert list(table["body_id"]) == [1] and list(table["n_pixels"]) == [6] and list(table["zone"]) == [1]
