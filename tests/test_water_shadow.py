"""Cloud shadows at the scene edge (irrmap.sources.shadow): a cloud near the edge casts its shadow across the
array border or into the scene's fill, and the shadow must still be a candidate and be matched; on the real
1997 Flathead TM scene the shadow of its big cloud that reaches the western scene edge must be flagged.

Synthetic truth by hand: sun azimuth 135 deg, zenith 45 deg, 30 m pixels; a cloud at 1,480 m (a height on the
search's 30 m ladder from 200 m) moves 49.3 px away from the sun, rounded to (-35, -35) rows/columns."""

from __future__ import annotations

import numpy as np
import pytest

from irrmap.sources import shadow
from irrmap.sources.shadow import cloud_and_shadow

SUN = {"sun_zenith": 45.0, "sun_azimuth": 135.0, "pixel_m": 30.0}
LAND, SHADE, CLOUD = (0.05, 0.30, 0.20), (0.02, 0.08, 0.04), (0.45, 0.50, 0.40)  # red, nir, swir1 TOA


def _scene(fill_cols: int = 0, dark_rows: slice | None = None):
    """(cloud mask, red, nir, swir1, true shadow): a 40 x 40 cloud at rows 100-139, columns 20-59 whose shadow,
    moved by (-35, -35), is cut by the western edge (the array border or `fill_cols` NaN columns)."""
    shape = (200, 200)
    bands = [np.full(shape, v, np.float32) for v in LAND]
    cloud = np.zeros(shape, bool)
    cloud[100:140, 20:60] = True
    moved = np.zeros(shape, bool)
    moved[65:105, 0:25] = True  # columns -15..24 inside the array
    truth = moved & ~cloud
    if dark_rows is not None:  # dark clear land touching the edge (a burn scar): darker than a fifth of the clear land
        for band, v in zip(bands, (0.03, 0.09, 0.05)):
            band[dark_rows] = v
    for band, sv, cv in zip(bands, SHADE, CLOUD):
        band[truth] = sv
        band[cloud] = cv
    for band in bands:
        band[:, :fill_cols] = np.nan
    truth[:, :fill_cols] = False
    return cloud, *bands, truth


@pytest.mark.parametrize("fill_cols, dark_rows", [(0, None), (10, slice(150, 200))], ids=["array-border", "fill-and-dark-land"])
def test_shadow_cut_by_the_scene_edge_is_matched(fill_cols, dark_rows):
    cloud, red, nir, swir1, truth = _scene(fill_cols, dark_rows)
    got_cloud, got = cloud_and_shadow(cloud, red, nir, swir1, buffer=0, **SUN)
    np.testing.assert_array_equal(got, truth)
    np.testing.assert_array_equal(got_cloud, cloud)


def test_the_edge_outlet_is_the_clear_land_median():
    """A dark region reaching the array border is a hole filled up to the outlet; darker than it by 0.02 is potential shadow."""
    img = np.full((20, 20), 3000, np.uint16)  # 1e-4 reflectance units
    img[5:12, 0:6] = 800  # touches the west border
    assert (shadow.fill_minima(img, 3000)[5:12, 0:6] == 3000).all()
    assert (shadow.fill_minima(img, 900)[5:12, 0:6] == 900).all()  # a low outlet: the old Fmask-background failure
    refl = img / 1e4
    valid = np.ones(img.shape, bool)
    pot = shadow.potential_shadow(refl, refl, valid, valid & (refl > 0.1))
    assert pot[5:12, 0:6].all() and not pot[refl > 0.1].any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fill_minima_equals_skimage_reconstruction(seed):
    """The priority-flood equals skimage's grayscale reconstruction by erosion of the array padded with the outlet ring."""
    from scipy import ndimage
    from skimage.morphology import reconstruction

    rng = np.random.default_rng(seed)
    img = (ndimage.zoom(rng.random((8, 9)), 12, order=1) * 4000 + rng.integers(0, 300, (96, 108))).astype(np.uint16)
    outlet = int(np.percentile(img, 50))
    padded = np.pad(img, 1, constant_values=outlet).astype(np.float64)
    seed_img = np.full_like(padded, padded.max())
    seed_img[0, :] = seed_img[-1, :] = seed_img[:, 0] = seed_img[:, -1] = outlet
    want = reconstruction(seed_img, padded, method="erosion")[1:-1, 1:-1]
    np.testing.assert_array_equal(shadow.fill_minima(img, outlet), want.astype(np.uint16))
    assert (want > img).mean() > 0.05  # the case has holes to fill


def test_no_cloud_object_skips_the_shadow_search(monkeypatch):
    cloud, red, nir, swir1, _ = _scene()
    cloud[:] = False
    cloud[10:12, 10:12] = True  # 4 px: below MIN_CLOUD_PIXELS, stays cloud, casts nothing

    def boom(*a, **k):
        raise AssertionError("potential shadow computed without a cloud object")

    monkeypatch.setattr(shadow, "potential_shadow", boom)
    got_cloud, got = cloud_and_shadow(cloud, red, nir, swir1, **SUN)
    assert not got.any() and (got_cloud == cloud).all()


def test_flathead_1997_shadow_reaching_the_western_edge(shared_data):
    """The big cloud of the 1997 TM scene (sun azimuth 132.6, elevation 57.8 deg) shadows the Mission Valley
    strip where it meets the western scene edge (rows 470-559, columns 0-119, picked by eye on a false-colour
    quicklook). Shadowed vegetation there -- NDVI > 0.2 and TOA NIR < 0.15, against 0.25-0.40 for the sunlit
    fields of the scene -- must be shadow (or its cloud): 91 % is, 57 % was before the edge and sampling fixes."""
    from irrmap.sources import read_scene
    from irrmap.sources.qa import CLOUD, SHADOW

    scene = read_scene(shared_data / "landsat" / "flathead_lt5_19970602")
    q = scene.quality.values
    red, nir = scene.bands["red"].values, scene.bands["nir"].values
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
    win = np.zeros(q.shape, bool)
    win[470:560, 0:120] = True
    shaded = win & np.isfinite(nir) & (ndvi > 0.2) & (nir < 0.15)
    assert shaded.sum() > 1000
    flagged = np.isin(q[shaded], [SHADOW, CLOUD]).mean()
    assert flagged >= 0.8, flagged
