"""Sentinel-2 readers on synthetic L1C / L2A products built here (small JPEG2000 or GeoTIFF bands and a minimal
MTD_MSIL1C.xml / MTD_MSIL2A.xml laid out as the Products Specification Document describes).

Truth: reflectance = (DN + offset) / 10000 by hand, with offset -1000 from processing baseline 04.00 and none
before; band_id 0..12 = B01..B08, B8A, B09..B12; 2 x 2 averages for the 20 m grid; linear interpolation of a
linear ramp for 20 m bands on the 10 m grid; the SCL class table.
"""

from __future__ import annotations

import datetime
import logging

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.core.errors import ConfigError, InputError
from irrmap.sources import read_scene
from irrmap.sources.qa import CLEAR, CLOUD, FILL, SHADOW, SNOW, WATER

ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
X0, Y0 = 600000.0, 5300000.0
N10 = 40  # 10 m pixels a side
RNG = np.random.default_rng(11)
DN10 = {b: RNG.integers(1000, 9000, (N10, N10)) for b in ("B02", "B03", "B04", "B08")}
RAMP = 1200 + 150 * np.arange(N10 // 2)[None, :] + np.zeros((N10 // 2, 1), int)  # linear in x at 20 m
DN20 = {"B11": RAMP, "B12": RAMP + 500}
for a in DN10.values():
    a[0, 0] = 0  # NODATA


def write_band(path, array, res, dtype="uint16"):
    driver = "JP2OpenJPEG" if path.suffix == ".jp2" else "GTiff"
    opts = {"QUALITY": "100", "REVERSIBLE": "YES"} if driver == "JP2OpenJPEG" else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver=driver, width=array.shape[1], height=array.shape[0], count=1, dtype=dtype,
                       crs="EPSG:32611", transform=Affine(res, 0, X0, 0, -res, Y0), **opts) as dst:
        dst.write(array.astype(dtype), 1)


def mtd(level: str, baseline: str, offsets: dict | None) -> str:
    l1 = level == "L1C"
    quant = "<QUANTIFICATION_VALUE unit=\"none\">10000</QUANTIFICATION_VALUE>" if l1 else (
        "<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit=\"none\">10000</BOA_QUANTIFICATION_VALUE>"
        "<AOT_QUANTIFICATION_VALUE unit=\"none\">1000.0</AOT_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>")
    tag, wrapper = ("RADIO_ADD_OFFSET", "Radiometric_Offset_List") if l1 else ("BOA_ADD_OFFSET", "BOA_ADD_OFFSET_VALUES_LIST")
    offset_xml = "" if offsets is None else f"<{wrapper}>" + "".join(f'<{tag} band_id="{i}">{offsets[b]:g}</{tag}>' for i, b in enumerate(ORDER)) + f"</{wrapper}>"
    root = "Level-1C_User_Product" if l1 else "Level-2A_User_Product"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<n1:{root} xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_{root[:8]}.xsd">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>2022-06-05T18:19:21.024Z</PRODUCT_START_TIME>
      <PRODUCT_URI>S2B_MSI{level}_20220605T181921_N{baseline.replace('.', '')}_R127_T11UQP_20220605T214009.SAFE</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-{level[1:]}</PROCESSING_LEVEL>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <Datatake datatakeIdentifier="GS2B_20220605T181921_027329_N04.00">
        <SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME>
      </Datatake>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
      <Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
      {quant}
      {offset_xml}
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:{root}>
"""


def make_product(root, level="L1C", baseline="04.00", offsets="default", ext="jp2", scl=None, sun=(35.0, 150.0)):
    """A SAFE-like product: GRANULE/<id>/IMG_DATA bands (L2A in R10m/R20m with _10m/_20m suffixes), QI_DATA masks
    whose names also end in _B02.jp2 (to be ignored), MTD_TL.xml with the mean sun angles."""
    if offsets == "default":
        offsets = {b: (-1000.0 if float(baseline) >= 4 else None) for b in ORDER}
        offsets = None if None in offsets.values() else offsets
    granule = root / "GRANULE" / "L1C_T11UQP_A027329_20220605T182230"
    img = granule / "IMG_DATA"
    tile = "T11UQP_20220605T181921"
    for b, a in DN10.items():
        write_band(img / ("R10m" if level == "L2A" else "") / f"{tile}_{b}{'_10m' if level == 'L2A' else ''}.{ext}", a, 10)
    for b, a in DN20.items():
        write_band(img / ("R20m" if level == "L2A" else "") / f"{tile}_{b}{'_20m' if level == 'L2A' else ''}.{ext}", a, 20)
    if level == "L2A":  # L2A also ships 20 m copies of the 10 m bands: the finest must be read
        write_band(img / "R20m" / f"{tile}_B02_20m.{ext}", np.full((N10 // 2, N10 // 2), 1), 20)
    if scl is not None:
        write_band(img / "R20m" / f"{tile}_SCL_20m.{ext}", scl, 20, "uint8")
    write_band(granule / "QI_DATA" / f"MSK_DETFOO_B02.{ext}", np.ones((N10, N10)), 10, "uint8")
    if sun is not None:
        (granule / "MTD_TL.xml").write_text(
            f"<n1:Level-1C_Tile_ID xmlns:n1='x'><n1:Geometric_Info><Tile_Angles><Mean_Sun_Angle><ZENITH_ANGLE unit='deg'>{sun[0]}</ZENITH_ANGLE>"
            f"<AZIMUTH_ANGLE unit='deg'>{sun[1]}</AZIMUTH_ANGLE></Mean_Sun_Angle></Tile_Angles></n1:Geometric_Info></n1:Level-1C_Tile_ID>")
    (root / f"MTD_MSI{level}.xml").write_text(mtd(level, baseline, offsets))
    return root


def reflectance(dn, offset):
    return (dn + offset) / 10000.0


@pytest.mark.parametrize("baseline, offset", [("03.01", 0.0), ("04.00", -1000.0), ("05.09", -1000.0)])
def test_l1c_offset_by_baseline(tmp_path, baseline, offset):
    s = read_scene(make_product(tmp_path / "p.SAFE", "L1C", baseline))
    assert (s.sensor, s.level, s.date) == ("S2B", "L1", datetime.date(2022, 6, 5))
    assert s.grid.res == (10.0, 10.0) and s.grid.shape == (N10, N10)
    got = s.bands["green"].values
    assert np.isnan(got[0, 0]) and s.quality.values[0, 0] == FILL
    np.testing.assert_allclose(got.ravel()[1:], reflectance(DN10["B03"], offset).ravel()[1:], rtol=1e-6)
    assert s.thermal is None and s.quality.attrs["source"] == "screen"
    assert s.scene_id.startswith("S2B_MSIL1C_20220605") and (s.sun_elevation, s.sun_azimuth) == (55.0, 150.0)


def test_offset_list_is_read_per_band_id(tmp_path):
    offsets = {b: -1000.0 - 10 * i for i, b in enumerate(ORDER)}  # B03 (id 2) -1020, B08 (id 7) -1070, B12 (id 12) -1120
    s = read_scene(make_product(tmp_path / "p", "L1C", "04.00", offsets=offsets))
    np.testing.assert_allclose(s.bands["green"].values.ravel()[1:], reflectance(DN10["B03"], -1020).ravel()[1:], rtol=1e-6)
    np.testing.assert_allclose(s.bands["nir"].values.ravel()[1:], reflectance(DN10["B08"], -1070).ravel()[1:], rtol=1e-6)
    at20 = read_scene(tmp_path / "p", resolution=20)
    np.testing.assert_allclose(at20.bands["swir2"].values, reflectance(DN20["B12"], -1120), rtol=1e-6)


def test_missing_offset_list_at_baseline_4_warns_and_applies_minus_1000(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="irrmap.sources.sentinel2"):
        s = read_scene(make_product(tmp_path / "p", "L1C", "04.00", offsets=None))
    assert "offset" in caplog.text
    np.testing.assert_allclose(s.bands["red"].values.ravel()[1:], reflectance(DN10["B04"], -1000).ravel()[1:], rtol=1e-6)


def test_l2a_boa_offset_scl_and_grids(tmp_path):
    scl = np.arange(N10 // 2 * N10 // 2).reshape(N10 // 2, N10 // 2) % 12
    s = read_scene(make_product(tmp_path / "p", "L2A", "04.00", ext="tif", scl=scl), cloud_buffer=0)  # the SCL codes as decoded
    assert s.level == "L2" and s.quality.attrs["source"] == "SCL"
    # the 10 m B02, not its 20 m copy
    np.testing.assert_allclose(s.bands["blue"].values.ravel()[1:], reflectance(DN10["B02"], -1000).ravel()[1:], rtol=1e-6)
    # SCL at 20 m on the 10 m grid: nearest, every 10 m pixel takes its 20 m parent's class
    expected = {0: FILL, 1: FILL, 2: SHADOW, 3: SHADOW, 4: CLEAR, 5: CLEAR, 6: WATER, 7: CLEAR, 8: CLOUD, 9: CLOUD, 10: CLOUD, 11: SNOW}
    parent = np.vectorize(expected.get)(np.repeat(np.repeat(scl, 2, 0), 2, 1))
    parent[0, 0] = FILL  # B02..B08 NODATA there
    # the snow guard: clear or water passing Fmask's spectral snow test (NDSI > 0.15, NIR > 0.11, green > 0.1) is snow
    green, nir, swir1 = (s.bands[n].values for n in ("green", "nir", "swir1"))
    with np.errstate(invalid="ignore"):
        snowy = ((green - swir1) / (green + swir1) > 0.15) & (nir > 0.11) & (green > 0.1)
    parent[snowy & np.isin(parent, (CLEAR, WATER))] = SNOW
    assert (s.quality.values == parent).all()
    # B11 (20 m, a linear ramp in x) on the 10 m grid: bilinear reproduces the ramp inside the tile
    u = np.arange(N10) / 2 - 0.25  # 10 m pixel centres in 20 m pixel units
    ramp = reflectance(1200 + 150 * u, -1000)
    np.testing.assert_allclose(s.bands["swir1"].values[2:-2, 2:-2], np.broadcast_to(ramp[2:-2], (N10 - 4, N10 - 4)), rtol=1e-5)
    # everything on the 20 m grid: the 10 m bands are 2 x 2 means
    s20 = read_scene(tmp_path / "p", resolution=20)
    assert s20.grid.res == (20.0, 20.0) and s20.grid.shape == (N10 // 2, N10 // 2)
    means = reflectance(DN10["B08"].reshape(N10 // 2, 2, N10 // 2, 2).mean(axis=(1, 3)), -1000)
    np.testing.assert_allclose(s20.bands["nir"].values[1:, 1:], means[1:, 1:], rtol=1e-5)
    np.testing.assert_allclose(s20.bands["swir1"].values, reflectance(RAMP, -1000), rtol=1e-6)


def test_folder_of_tifs_without_granule_metadata(tmp_path, caplog):
    folder = tmp_path / "plain"
    for b, a in {**DN10, **DN20}.items():
        write_band(folder / f"{b}.tif", a, 10 if b in DN10 else 20)
    (folder / "MTD_MSIL1C.xml").write_text(mtd("L1C", "02.09", None))
    with caplog.at_level(logging.WARNING):
        s = read_scene(folder)
    assert s.sun_elevation is None and "shadow" in caplog.text
    np.testing.assert_allclose(s.bands["red"].values.ravel()[1:], reflectance(DN10["B04"], 0).ravel()[1:], rtol=1e-6)


def test_saturated_and_errors(tmp_path):
    folder = make_product(tmp_path / "p", "L1C", "04.00")
    s = read_scene(folder)
    assert not s.saturated.values.any()
    with pytest.raises(ConfigError):
        read_scene(folder, resolution=30)
    with pytest.raises(ConfigError):
        read_scene(folder, bands=["thermal"])
    next(folder.rglob("*_B11.jp2")).unlink()
    with pytest.raises(InputError, match="B11"):
        read_scene(folder)
