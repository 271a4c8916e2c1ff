"""In-process caches follow the companion files GDAL reads beside an input (irrmap.core.companions.stat_identity):
a Python session that reads a raster, then adds or edits its `.aux.xml` (nodata, scale, geotransform), its external
`.msk` mask or a VRT's source, and reads again gets what GDAL reads now. Truth: the file opened afresh with
rasterio. And manifest.json names the companions each input's checksum covers (`input_companions`): truth, GDAL's
own file list (rasterio's `files`) and the shapefile parts on disk."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app import pipeline
from irrmap.app.context import RunContext
from irrmap.core import valid_share
from irrmap.core.file_identity import file_identities
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster

RES = 250.0
T0 = from_origin(500000, 4000000, RES, RES)


@pytest.fixture(autouse=True)
def _pam_on(monkeypatch):
    """GDAL's default PAM (.aux.xml read), whatever another test module set."""
    monkeypatch.delenv("GDAL_PAM_ENABLED", raising=False)
    with rasterio.Env(GDAL_PAM_ENABLED="YES"):
        yield


def _tif(path, data, nodata=None, transform=T0):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype,
                       crs="EPSG:32633", transform=transform, nodata=nodata) as dst:
        dst.write(data, 1)
    return path


def _grid(shape=(8, 8)) -> Grid:
    return Grid(rasterio.crs.CRS.from_epsg(32633), T0, *shape)


def _pam(path, body: str) -> None:
    """Write `path`.aux.xml (band 1 holding `body`) through a temporary name, as an editor saving it would."""
    tmp = f"{path}.aux.xml.tmp"
    with open(tmp, "w") as f:
        f.write(f'<PAMDataset><PAMRasterBand band="1">{body}</PAMRasterBand></PAMDataset>')
    os.replace(tmp, f"{path}.aux.xml")


def _fresh(path) -> np.ndarray:
    """float64 values as GDAL reads the file now (a new handle): scale/offset applied, NaN where its mask says missing."""
    with rasterio.open(path) as src:
        raw = src.read(1).astype(np.float64) * src.scales[0] + src.offsets[0]
        return np.where(src.read_masks(1) == 0, np.nan, raw)


def _fresh_share(path) -> float:
    """Valid share of band 1 on its own projected grid: valid pixels / pixels, GDAL's mask read afresh."""
    with rasterio.open(path) as src:
        return float((src.read_masks(1) != 0).mean())


def _values():
    return (np.arange(64, dtype=np.uint16).reshape(8, 8) * 3) % 40  # 0 and 30 present


def test_band_shares_follow_an_added_then_edited_aux_xml_nodata(tmp_path):
    tif = _tif(tmp_path / "a.tif", np.minimum(np.arange(64, dtype=np.uint8).reshape(8, 8) // 8, 5))  # 8 zeros, 24 fives
    assert valid_share.band_shares(tif) == (pytest.approx(_fresh_share(tif)),) == (1.0,)  # control: no nodata yet
    _pam(tif, "<NoDataValue>0</NoDataValue>")
    expected = _fresh_share(tif)
    assert expected == 56 / 64
    assert valid_share.band_shares(tif)[0] == pytest.approx(expected, abs=1e-12)
    _pam(tif, "<NoDataValue>5</NoDataValue>")  # edited: same name, another value
    assert _fresh_share(tif) == 40 / 64
    assert valid_share.band_shares(tif)[0] == pytest.approx(_fresh_share(tif), abs=1e-12)


def test_read_raster_follows_an_added_scale_nodata_and_geotransform(tmp_path):
    tif = _tif(tmp_path / "a.tif", _values())
    grid = _grid()
    np.testing.assert_array_equal(read_raster(tif, grid).values, _fresh(tif))  # control
    _pam(tif, "<NoDataValue>0</NoDataValue><Scale>0.5</Scale><Offset>0</Offset>")
    np.testing.assert_array_equal(read_raster(tif, grid).values, _fresh(tif))
    # PAM's geotransform comes first in GDAL's GTiff georeferencing (GEOREF_SOURCES=PAM,INTERNAL,...): one pixel east
    gt = f"{T0.c + RES:.1f}, {RES}, 0, {T0.f:.1f}, 0, {-RES}"
    with open(f"{tif}.aux.xml", "w") as f:
        f.write(f'<PAMDataset><GeoTransform>{gt}</GeoTransform><PAMRasterBand band="1"><NoDataValue>0</NoDataValue>'
                '<Scale>0.5</Scale><Offset>0</Offset></PAMRasterBand></PAMDataset>')
    with rasterio.open(tif) as src:
        assert src.transform.c == T0.c + RES  # GDAL reads the new origin
    expected = np.full(grid.shape, np.nan)
    expected[:, 1:] = _fresh(tif)[:, :-1]  # grid column j is the file's column j - 1; column 0 is off the file
    np.testing.assert_array_equal(read_raster(tif, grid).values, expected)


def test_read_raster_follows_an_external_mask_that_appears(tmp_path):
    data = _values() + 1
    tif = _tif(tmp_path / "a.tif", data)
    grid = _grid()
    first = read_raster(tif, grid)
    np.testing.assert_array_equal(first.values, _fresh(tif))  # control
    (tmp_path / "twin").mkdir()
    twin = _tif(tmp_path / "twin" / "a.tif", data)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=False), rasterio.open(twin, "r+") as dst:
        dst.write_mask(np.where(np.arange(64).reshape(8, 8) % 3 == 0, 0, 255).astype(np.uint8))
    shutil.copyfile(f"{twin}.msk", f"{tif}.msk")  # GDAL finds <file>.msk by its name (RFC 15)
    fresh = _fresh(tif)
    assert np.isnan(fresh).sum() == 22  # GDAL reads the mask beside the unchanged file
    again = read_raster(tif, grid)
    np.testing.assert_array_equal(again.values, fresh)
    assert again.data.name != first.data.name  # other values, another task name (resumed predictions key on it)


def test_read_raster_follows_a_vrt_source_rewritten(tmp_path):
    src = _tif(tmp_path / "src.tif", _values())
    vrt = tmp_path / "v.vrt"
    _write_vrt(vrt, src)
    grid = _grid()
    first = read_raster(vrt, grid)
    old = first.values  # computed now (the array is lazy)
    np.testing.assert_array_equal(old, _fresh(vrt))  # control
    before = vrt.stat().st_mtime_ns
    _tif(tmp_path / "new.tif", _values()[::-1].copy())
    os.replace(tmp_path / "new.tif", src)  # the source replaced; the VRT's own bytes and times unchanged
    assert vrt.stat().st_mtime_ns == before
    again = read_raster(vrt, grid)
    np.testing.assert_array_equal(again.values, _fresh(vrt))
    assert not np.array_equal(again.values, old)
    assert again.data.name != first.data.name


def _write_vrt(vrt, src) -> None:
    with rasterio.open(src) as s:
        w, h, dt = s.width, s.height, {"uint16": "UInt16"}[s.dtypes[0]]
        gt = ", ".join(repr(v) for v in s.transform.to_gdal())
        wkt = s.crs.to_wkt()
    vrt.write_text(f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}"><SRS>{wkt}</SRS><GeoTransform>{gt}</GeoTransform>'
                   f'<VRTRasterBand dataType="{dt}" band="1"><SimpleSource><SourceFilename relativeToVRT="1">{src.name}'
                   f'</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>')


def test_stat_identity_changes_with_each_companion_and_not_without(tmp_path):
    from irrmap.core.companions import stat_identity

    tif = _tif(tmp_path / "a.tif", _values())
    first = stat_identity(tif)
    assert stat_identity(tif) == first  # control: nothing changed
    for name in ("a.tfw", "a.tif.ovr", "a.tif.msk", "a.tif.aux.xml"):
        (tmp_path / name).write_text("x")
        now = stat_identity(tif)
        assert now != first, name
        first = now
    (tmp_path / "b.tif").write_text("unrelated")
    assert stat_identity(tif) == first  # another file of the folder is not a companion


def test_a_hard_link_with_its_own_aux_xml_is_other_data(tmp_path):
    a = _tif(tmp_path / "a.tif", _values())
    b = tmp_path / "b.tif"
    os.link(a, b)
    c = tmp_path / "c.tif"
    shutil.copyfile(a, c)
    ids = file_identities([str(a), str(b), str(c)])
    assert ids[str(a)] == ids[str(b)] == ids[str(c)]  # control: the same bytes, read alone
    _pam(a, "<Scale>0.5</Scale>")
    assert not np.array_equal(_fresh(a), _fresh(b))  # GDAL reads them differently now
    ids = file_identities([str(a), str(b), str(c)])
    assert ids[str(a)] != ids[str(b)] == ids[str(c)]
    shutil.copyfile(f"{a}.aux.xml", f"{c}.aux.xml")  # a copy with a copy of its sidecar reads the same again
    np.testing.assert_array_equal(_fresh(a), _fresh(c))
    assert file_identities([str(a), str(c)])[str(a)] == file_identities([str(a), str(c)])[str(c)]


def _shapefile(path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    gpd.GeoDataFrame({"name": ["x"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326").to_file(path)


def test_manifest_lists_the_companions_of_a_shapefile_and_a_tif_with_aux_xml(tmp_path):
    shp = tmp_path / "units.shp"
    _shapefile(shp)
    tif = _tif(tmp_path / "a.tif", _values())
    _pam(tif, "<Scale>0.5</Scale>")
    plain = _tif(tmp_path / "plain.tif", _values())
    ctx = RunContext(SimpleNamespace(resolve=lambda p: p), grid=None, outdir=tmp_path / "out")
    ctx.checksum(shp)
    ctx.checksum_all([tif, plain])
    manifest: dict = {}
    pipeline._record_inputs(manifest, ctx)
    parts = sorted(str(p) for p in tmp_path.iterdir() if p.stem == "units" and p != shp)  # OGR's .shx/.dbf/.prj/.cpg
    assert {os.path.splitext(p)[1] for p in parts} >= {".shx", ".dbf", ".prj"}
    with rasterio.open(tif) as src:
        gdal_lists = sorted(os.path.abspath(f) for f in src.files if os.path.abspath(f) != str(tif))
    assert gdal_lists == [f"{tif}.aux.xml"]
    assert manifest["input_companions"] == {str(shp): parts, str(tif): gdal_lists}
    assert set(manifest["inputs"]) == {str(shp), str(tif), str(plain)}
    assert manifest["inputs"][str(plain)] == hashlib.sha256(plain.read_bytes()).hexdigest()  # control: read alone


def test_run_manifest_names_an_aux_xml_relative_like_its_input(tmp_path, monkeypatch):
    from tests.test_run_speed_paths import _classes_file, _config, _inputs_stages

    src = _classes_file(tmp_path / "lc.tif", shape=(120, 150))
    cfg = _config(tmp_path, src, names=("crop",))
    monkeypatch.setattr("os.cpu_count", lambda: 2)  # the early digests' path too
    first = pipeline.run_pipeline(cfg, stages=_inputs_stages(cfg))
    assert "input_companions" not in first  # control: no companion, no key, the plain SHA-256
    assert first["inputs"][str(src)] == hashlib.sha256(src.read_bytes()).hexdigest()
    _pam(src, "<Description>lc</Description>")
    again = pipeline.run_pipeline(cfg, stages=_inputs_stages(cfg))
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk["input_companions"] == again["input_companions"] == {str(src): [f"{src}.aux.xml"]}
    assert set(on_disk["input_companions"]) <= set(on_disk["inputs"])


def test_file_identities_hash_a_vrts_sources_with_the_callers_digest(tmp_path):
    """file_identities(paths, digest=...) hashes a VRT's sources with the caller's digest (a run's checksum cache), not
    with a fresh SHA-256 of every source at every call (review of 02a9e86: 400 sources, 400 sha256_file calls, 0 calls
    of the cache). Truth: the calls recorded, and the hashlib SHA-256 the recording digest returns."""
    from irrmap.core import file_identity

    src = _tif(tmp_path / "src.tif", _values())
    vrt = tmp_path / "v.vrt"
    _write_vrt(vrt, src)
    calls = []

    def recording(p: str) -> str:
        calls.append(os.path.abspath(p))
        return hashlib.sha256(open(p, "rb").read()).hexdigest()

    direct = []
    real = file_identity.sha256_file
    try:
        file_identity.sha256_file = lambda p: direct.append(p) or real(p)
        with_cache = file_identities([str(vrt)], digest=recording)
    finally:
        file_identity.sha256_file = real
    assert os.path.abspath(src) in calls
    assert direct == []
    assert with_cache == file_identities([str(vrt)])  # the same identity as with plain SHA-256 (control)
