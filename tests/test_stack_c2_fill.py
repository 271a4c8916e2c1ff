"""Scene stacks of Landsat Collection 2 Level-2 SR digital numbers (irrmap.sources.stack) and the reflectance checks
(irrmap.sources.scene): stored 0 is fill by the product definition (USGS LSDS-1619: fill 0, reflectance = DN x
2.75e-5 - 0.2), the checks sample the whole scene (scene-edge fill), a wrong scale is told from undeclared fill and
named with the right one (never the one given), a sidecar sensor label decides the QA layout or is refused, and a
band without any dark pixel (a thermal band stacked as swir2) is refused.

Truth: reflectance = DN x 2.75e-5 - 0.2 (LSDS-1619), hand-computed AWEI_nsh = 4 (green - swir1) - (0.25 nir +
2.75 swir2) (Feyisa et al. 2014) and QA_PIXEL bits of LSDS-1619 (2 cirrus, 6 clear)."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.sources import read_scene
from irrmap.sources.qa import CLEAR, CLOUD, FILL
from irrmap.sources.scene import check_reflectance_scale

NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")
LAND = (0.05, 0.08, 0.07, 0.30, 0.20, 0.12)
WATER = (0.06, 0.05, 0.03, 0.01, 0.005, 0.003)
C2 = {"date": "2015-06-04", "sensor": "LC08", "level": "L2", "scale": 2.75e-5, "offset": -0.2, "sun_elevation": 61.26, "sun_azimuth": 135.0}
N, BORDER = 40, 4


def dn(refl):
    """C2 SR digital number of reflectance `refl` (inverse of LSDS-1619's DN x 2.75e-5 - 0.2)."""
    return np.round((np.asarray(refl) + 0.2) / 2.75e-5).astype(np.uint16)


def scene_dn(border=BORDER):
    """(6, N, N) uint16: land, a water square in rows/cols 15..24, a border of DN 0 (fill) `border` pixels wide."""
    out = np.stack([np.full((N, N), dn(v), np.uint16) for v in LAND])
    for k, v in enumerate(WATER):
        out[k, 15:25, 15:25] = dn(v)
    if border:
        out[:, :border], out[:, -border:], out[:, :, :border], out[:, :, -border:] = 0, 0, 0, 0
    return out


def write(path, data, sidecar, extra=None, nodata=None, names=NAMES):
    bands = list(data) + ([extra] if extra is not None else [])
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=len(bands), dtype="uint16",
                       crs="EPSG:32612", transform=Affine(30, 0, 300000, 0, -30, 5300000), nodata=nodata) as dst:
        for i, (b, name) in enumerate(zip(bands, names + (("QA_PIXEL",) if extra is not None else ())), start=1):
            dst.write(b.astype("uint16"), i)
            dst.set_band_description(i, name)
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


@pytest.mark.parametrize("nodata", [None, 65535])
def test_c2_stack_stored_zero_is_fill_without_a_nodata_tag(tmp_path, nodata):
    raw = scene_dn()
    s = read_scene(write(tmp_path / "s.tif", raw, C2, nodata=nodata))
    fill = raw[0] == 0
    for k, name in enumerate(NAMES):
        got = s.bands[name].values
        assert np.isnan(got[fill]).all()  # old code: -0.2 (= 0 x 2.75e-5 - 0.2)
        np.testing.assert_allclose(got[~fill], (raw[k][~fill] * 2.75e-5 - 0.2), rtol=1e-6)
    assert (s.quality.values[fill] == FILL).all()


def test_c2_stack_fill_is_unknown_in_the_awei_water_mask(tmp_path, capsys):
    raw = scene_dn()
    # hand-computed AWEI_nsh: water 4 (0.05 - 0.005) - (0.25 x 0.01 + 2.75 x 0.003) = 0.16925 > 0; land
    # 4 (0.08 - 0.2) - (0.075 + 0.33) = -0.885; fill read as data: 4 (-0.2 + 0.2) - (-0.05 - 0.55) = +0.6 (water)
    stack = write(tmp_path / "s.tif", raw, C2)
    out = tmp_path / "w.tif"
    assert main(["-q", "water", "mask", "--method", "awei_nsh", str(out), str(stack)]) == 0
    with rasterio.open(out) as src:
        w = src.read(1)
    assert (w[raw[0] == 0] == 255).all()  # old code: 1 (water)
    assert (w[16:24, 16:24] == 1).all() and (w[6:12, 6:34] == 0).all()


def test_the_check_samples_the_whole_scene_and_tells_fill_from_a_wrong_scale():
    """60 x 60 bands in 10 x 10 chunks: a 10-pixel border (the outer chunks only) at -0.2 = stored 0 x 2.75e-5 - 0.2. The
    old sample (the 4 centre chunks) never saw it."""
    def bands(edge):
        out = {}
        for name, v in zip(NAMES, LAND):
            a = np.full((60, 60), v, np.float32)
            a[:10], a[-10:], a[:, :10], a[:, -10:] = edge, edge, edge, edge
            out[name] = xr.DataArray(da.from_array(a, chunks=10), dims=("y", "x"),
                                     attrs={"gain": 2.75e-5, "offset": -0.2, "source": "edge.tif"})
        return out

    with pytest.raises(InputError) as fill:
        check_reflectance_scale(bands(np.float32(-0.2)), "scene", fix="SCALE FIX")
    assert "stored 0 is fill" in fill.value.what and "gdal_edit.py -a_nodata 0 edge.tif" in fill.value.fix
    assert "SCALE FIX" not in fill.value.fix
    with pytest.raises(InputError) as wrong:  # below the floor but not the value of stored 0: the scale / offset
        check_reflectance_scale(bands(np.float32(-0.15)), "scene", fix=lambda: "SCALE FIX")
    assert wrong.value.fix == "SCALE FIX" and "fill" not in wrong.value.what


@pytest.mark.parametrize("label", ["LC08", "Landsat 8", "landsat-8", "L8", "OLI/TIRS", "LC8"])
def test_qa_pixel_stack_sensor_labels_of_landsat_8_keep_the_cirrus_bit(tmp_path, label):
    raw = scene_dn(border=0)
    qa = np.full((N, N), 21824, np.uint16)  # clear (LSDS-1619: bit 6 clear + low confidences)
    qa[:, :20] = 21824 | 4 | (3 << 14)  # cirrus bit 2, high cirrus confidence: cloud on Landsat 8/9 only
    name = "LC08_L2SP_041027_20150604_20200909_02_T1.tif"  # a Landsat id of the same sensor and date as the sidecar
    s = read_scene(write(tmp_path / name, raw, dict(C2, sensor=label), extra=qa))
    q = s.quality.values
    assert (q[:, :20] == CLOUD).all() and (q[:, 20:] != CLOUD).all()  # old code with "Landsat 8": CLEAR (4-7 layout)
    assert CLEAR in q[:, 20:]


@pytest.mark.parametrize("label", ["Landsat", "my satellite", "unknown"])
def test_qa_pixel_stack_with_an_unknown_sensor_label_is_refused(tmp_path, label):
    raw = scene_dn(border=0)
    qa = np.full((N, N), 21824, np.uint16)
    with pytest.raises(InputError) as err:
        read_scene(write(tmp_path / "q.tif", raw, dict(C2, sensor=label), extra=qa))
    assert label in err.value.what and "QA_PIXEL" in err.value.what and "Landsat 8" in err.value.fix
    assert err.value.where.endswith("q.json")


def test_c2_numbers_under_the_collection_1_scale_name_the_c2_scale(tmp_path):
    # DN of reflectance 0 is 0.2 / 2.75e-5 = 7273; x 0.0001 gives 0.73: the darkest band (swir2 of water, 0.003 -> DN 7382)
    stack = write(tmp_path / "b.tif", scene_dn(border=0), dict(C2, scale=0.0001, offset=0))
    with pytest.raises(InputError) as err:
        read_scene(stack)
    assert '"scale": 2.75e-5, "offset": -0.2' in err.value.fix
    assert '"scale": 0.0001' not in err.value.fix  # what was given is never the fix


def test_reflectance_x_1e4_under_the_c2_scale_names_0_0001_and_never_the_given_scale(tmp_path):
    x1e4 = np.stack([np.full((N, N), round(v * 1e4), np.uint16) for v in LAND])
    x1e4[:, 15:25, 15:25] = np.array([round(v * 1e4) for v in WATER], np.uint16)[:, None, None]
    stack = write(tmp_path / "c.tif", x1e4, C2)  # swir2 water 30 x 2.75e-5 - 0.2 = -0.199: below the floor
    with pytest.raises(InputError) as err:
        read_scene(stack)
    assert '"scale": 0.0001, "offset": 0' in err.value.fix and '"scale": 2.75e-5' not in err.value.fix
    from irrmap.sources.stack import scale_fix

    lines = {n: (1e-4, 0.0, "", None, ()) for n in NAMES}
    hint = scale_fix(stack, {n: i for i, n in enumerate(NAMES, start=1)}, lines)
    assert '"scale": 0.0001' not in hint  # given 0.0001: not suggested again


def test_thermal_band_stacked_as_swir2_is_refused(tmp_path):
    raw = scene_dn(border=0)
    # a surface temperature of 300 K in C2 ST DN: (300 - 149) / 0.00341802 = 44178 (LSDS-1619); read as SR:
    # 44178 x 2.75e-5 - 0.2 = 1.015, no swir2 reflectance, while swir1 of the water is 0.005
    raw[5] = 44178
    with pytest.raises(InputError) as err:
        read_scene(write(tmp_path / "t.tif", raw, C2))
    assert "swir2" in err.value.what and "1.01" in err.value.what and "thermal" in err.value.fix


def test_sidecar_nodata_declares_the_fill(tmp_path):
    raw = scene_dn()
    raw[raw == 0] = 1  # fill stored as 1, declared in the sidecar
    s = read_scene(write(tmp_path / "n.tif", raw, dict(C2, nodata=1)))
    assert np.isnan(s.bands["green"].values[raw[1] == 1]).all()
    assert (s.quality.values[raw[1] == 1] == FILL).all()
