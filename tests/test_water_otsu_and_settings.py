"""Water layer thresholds and comparisons that must be what they claim:

- every Otsu threshold (the scene's and each window's) must split water from land: on clear pixels that are
  fields only (a mostly cloudy scene) Otsu splits vegetation from soil, and the scene falls back to the published
  threshold 0 with a warning and a tag (truth: scikit-image's threshold_otsu and numpy NDWI > 0);
- `water change` refuses two bodies folders made with different settings (minimum area, connectivity);
- body tables are the same to the byte whatever the window (tile) size, and their areas are the pyproj.Geod
  areas of the pixels.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from conftest import as_dataarray
from irrmap.mapping.water import classify_scene
from irrmap.mapping.water.bodies import bodies_to_files
from irrmap.mapping.water.change import change_to_files
from pyproj import Geod, Transformer
from skimage.filters import threshold_otsu
from test_water_classify import make_scene, paint

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid

# top-of-atmosphere-like reflectances (blue, green, red, nir, swir1, swir2) and their NDWI (green - nir) / (green + nir)
VEG = (0.04, 0.08, 0.05, 0.35, 0.20, 0.10)     # NDWI -0.63
SOIL = (0.08, 0.12, 0.14, 0.16, 0.25, 0.20)    # NDWI -0.14
LAKE = (0.06, 0.05, 0.03, 0.01, 0.005, 0.003)  # NDWI +0.67


def ndwi_np(s):
    g, n = s[1].astype(np.float32), s[3].astype(np.float32)
    return (g - n) / (g + n)


def _cloudy_fields_scene(rng):
    """60 x 60: 70 % vegetation, 28 % bare soil, 12 lake pixels (0.3 %) among the clear pixels; the rest cloud."""
    h = w = 60
    s = paint(h, w, VEG)
    s[:, :, 42:] = np.array(SOIL)[:, None, None]
    s[:, :3, :4] = np.array(LAKE)[:, None, None]
    s *= rng.uniform(0.95, 1.05, s.shape)
    q = np.zeros((h, w), np.uint8)
    q[40:, :] = 1  # cloud over a third of the scene
    return s, q


def test_scene_otsu_that_splits_vegetation_from_soil_falls_back_to_the_published_threshold(caplog):
    s, q = _cloudy_fields_scene(np.random.default_rng(5))
    idx, clear = ndwi_np(s), q == 0
    own = float(threshold_otsu(idx[clear]))
    assert own < -0.2  # scikit-image: Otsu's split is vegetation vs soil, far below any water
    with caplog.at_level(logging.WARNING):
        out = classify_scene(make_scene(s, q), "otsu", index="ndwi")
    assert out.attrs["threshold"] == 0.0 and out.attrs["otsu_fallback"] == 1
    assert out.attrs["otsu_threshold"] == pytest.approx(own, abs=1e-6)
    np.testing.assert_array_equal(out.values[clear], (idx[clear] > 0).astype(np.uint8))  # 12 lake pixels, no soil
    assert int((out.values == 1).sum()) == 12
    assert "published threshold" in caplog.text and "otsu_fallback" in caplog.text and "fix" in caplog.text


def test_scene_otsu_between_water_and_land_is_kept():
    rng = np.random.default_rng(7)
    s = paint(40, 40, VEG)
    s[:, :, 28:] = np.array(LAKE)[:, None, None]
    s *= rng.uniform(0.95, 1.05, s.shape)
    idx = ndwi_np(s)
    out = classify_scene(make_scene(s), "otsu", index="ndwi")
    assert out.attrs["otsu_fallback"] == 0
    assert out.attrs["threshold"] == pytest.approx(float(threshold_otsu(idx)), abs=1e-6)


def test_window_otsu_that_splits_vegetation_from_soil_keeps_the_scene_threshold():
    """A 32 x 32 window of vegetation and soil in a lake scene: its own Otsu threshold passes the two-class tests
    (soil is 25 % of it, the class means 0.5 apart against a water/land distance of 1.2), but its upper class is
    soil. The window takes the scene threshold (scikit-image on the whole scene), so the soil stays land."""
    t = 32
    rng = np.random.default_rng(3)
    s = paint(2 * t, 2 * t, VEG)
    s[:, t:, :] = np.array(LAKE)[:, None, None]      # bottom half lake
    s[:, :t, t + 24:] = np.array(SOIL)[:, None, None]  # top-right window: 75 % vegetation, 25 % soil
    s *= rng.uniform(0.95, 1.05, s.shape)
    idx = ndwi_np(s)
    window = np.s_[:t, t:]
    own = threshold_otsu(idx[window])
    assert own < 0 and 0.1 <= (idx[window] > own).mean() <= 0.9  # the old per-window tests accept it
    scene_t = threshold_otsu(idx)  # between land and lake: its upper class is the lake
    assert (idx[window] > scene_t).mean() < 0.05
    out = classify_scene(make_scene(s, chunks=t), "otsu", index="ndwi", tile=t).values
    np.testing.assert_array_equal(out[window], (idx[window] > scene_t).astype(np.uint8))


@pytest.mark.realdata
@pytest.mark.slow
def test_flathead_otsu_thresholds(shared_data):
    """1997 TM (mostly cloud): Otsu on NDWI is -0.22 (vegetation vs soil) and falls back to 0, so the water is
    the NDWI > 0 map; 2007 ETM+ and 2015 OLI keep their Otsu thresholds (0.063, 0.032 -- 0.039 before the 3 px cloud
    buffer reached the 2015 BQA; scikit-image)."""
    from irrmap.mapping.water.classify import _clear, scene_index

    from irrmap.sources import read_scene

    for name, fallback, expected in (("flathead_lt5_19970602", 1, None), ("flathead_le7_20070505", 0, 0.0626),
                                     ("flathead_lc8_20150604", 0, 0.0318)):
        scene = read_scene(shared_data / "landsat" / name)
        idx = scene_index(scene, "ndwi")
        clear = _clear(scene, idx).values & np.isfinite(idx.values)
        v = idx.values[clear]
        out = classify_scene(scene, "otsu", index="ndwi")
        assert out.attrs["otsu_fallback"] == fallback, name
        assert out.attrs["otsu_threshold"] == pytest.approx(float(threshold_otsu(v)), abs=1e-5)
        if fallback:
            assert out.attrs["otsu_threshold"] < -0.2 and out.attrs["threshold"] == 0.0
            np.testing.assert_array_equal(out.values[clear], (v > 0).astype(np.uint8))
        else:
            assert out.attrs["threshold"] == pytest.approx(expected, abs=5e-4)


# -- bodies settings and tile independence -------------------------------------------------------------------

UTM = Grid("EPSG:32611", Affine(30, 0, 700_000, 0, -30, 5_400_000), 40, 50)  # far off the central meridian


def _mask() -> np.ndarray:
    m = np.zeros((UTM.height, UTM.width), np.uint8)
    m[2:30, 3:41] = 1      # a lake crossing many windows
    m[33, 5] = m[34, 6] = 1  # two pixels touching at a corner: one 8-connected body, two 4-connected ones
    m[36:39, 30:48] = 1
    m[0:2, 45:50] = 255
    return m


def _bodies(tmp_path, name, **kw) -> Path:
    out = tmp_path / name
    bodies_to_files(as_dataarray(_mask(), UTM), out, **kw)
    return out


def test_change_refuses_bodies_made_with_different_settings(tmp_path, capsys):
    a = _bodies(tmp_path, "a", min_area_m2=0, connectivity=4)
    b = _bodies(tmp_path, "b", min_area_m2=0, connectivity=8)
    c = _bodies(tmp_path, "c", min_area_m2=3125.0, connectivity=8)
    with pytest.raises(InputError, match=r"connectivity 4 .* but 8") as err:
        change_to_files(tmp_path / "ab", a, b)
    assert "--connectivity" in str(err.value)
    with pytest.raises(InputError, match=r"min_area_m2 0\.0 .* but 3125\.0"):
        change_to_files(tmp_path / "bc", b, c)
    assert main(["-q", "water", "change", str(tmp_path / "ac"), str(a), str(c)]) == 2
    msg = capsys.readouterr().err
    assert "Traceback" not in msg and "min_area_m2 0.0" in msg and "connectivity 4" in msg and "fix:" in msg
    assert not (tmp_path / "ac" / "change.csv").exists()
    # equal settings: the same mask is stable body for body
    paths = change_to_files(tmp_path / "bb", b, _bodies(tmp_path, "b2", min_area_m2=0, connectivity=8))
    assert set(pd.read_csv(paths["change"])["status"]) == {"stable"}


def _geod_pixel_area(r: int, c: int, k: int = 16) -> float:
    """pyproj.Geod area of pixel (r, c) of UTM, its edges densified (k points per edge) in UTM and mapped to lon/lat."""
    t = UTM.transform
    x0, x1, y0, y1 = t.c + t.a * c, t.c + t.a * (c + 1), t.f + t.e * r, t.f + t.e * (r + 1)
    f = np.linspace(0, 1, k, endpoint=False)
    xs = np.r_[x0 + (x1 - x0) * f, np.full(k, x1), x1 - (x1 - x0) * f, np.full(k, x0)]
    ys = np.r_[np.full(k, y0), y0 + (y1 - y0) * f, np.full(k, y1), y1 - (y1 - y0) * f]
    lon, lat = Transformer.from_crs(UTM.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0])


def test_body_table_is_the_same_to_the_byte_whatever_the_tile_and_areas_are_geod_areas(tmp_path):
    outs = [_bodies(tmp_path, f"t{tile}", min_area_m2=0, tile=tile) for tile in (7, 16, 4096)]
    for name in ("bodies.parquet", "bodies.gpkg", "body_id.tif"):
        ref = (outs[-1] / name).read_bytes()
        for o in outs[:-1]:
            assert (o / name).read_bytes() == ref, (o.name, name)
    table = gpd.read_parquet(outs[-1] / "bodies.parquet")
    with rasterio.open(outs[-1] / "body_id.tif") as src:
        ids = src.read(1)
    for row in table.itertuples():
        rr, cc = np.nonzero(ids == row.body_id)
        truth = math.fsum(_geod_pixel_area(r, c) for r, c in zip(rr, cc))
        assert row.area_m2 == pytest.approx(truth, rel=1e-8), row.body_id
