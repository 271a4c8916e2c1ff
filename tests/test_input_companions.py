"""An input's digest (irrmap.app.context.input_digest, the stage fingerprints) covers the companion files GDAL/OGR
read beside it (irrmap.core.companions): a PAM .aux.xml Scale, a world file, a shapefile's .dbf. Before, a
`precipitation.tif.aux.xml` with <Scale>0.5</Scale> added after a run left all stages "up to date, skipped" while a
fresh run read every value halved (probe R, finding 1).

Truths: GDAL itself (rasterio's scales / transform and pyogrio's attributes show that the companion changes what is
read), hashlib over the file's bytes (a file without companions keeps its plain SHA-256), the file system (the .shp
and .shx of a shapefile whose codes change keep their bytes: only the .dbf changes), and a rerun's aligned raster
equal to the first run's times the sidecar's scale (resampling is linear in the values).
Controls (pass on the old code too): test_plain_file_keeps_its_sha256_and_ignores_unrelated_files,
test_moving_the_folder_with_its_companions_keeps_the_digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box
from test_pipeline_cli import project  # noqa: F401 - the tiny two-county project fixture

from irrmap.app.context import input_digest
from irrmap.app.pipeline import run_pipeline
from irrmap.core import manifest
from irrmap.core.grid import Grid
from irrmap.core.manifest import DigestCache
from irrmap.core.raster_read import read_raster

PAM = '<PAMDataset><PAMRasterBand band="1"><Scale>{}</Scale><Offset>0</Offset></PAMRasterBand></PAMDataset>\n'


@pytest.fixture(autouse=True)
def _pam_enabled(monkeypatch):
    """GDAL's default: .aux.xml files are read (tests/test_sources_guards.py turns PAM off for the whole session when it
    is imported, and GDAL then lists no .aux.xml, as it then reads none)."""
    monkeypatch.delenv("GDAL_PAM_ENABLED", raising=False)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _tif(p: Path, georef: bool = True) -> Path:
    kw = {"crs": "EPSG:4326", "transform": from_origin(100.0, 40.0, 0.01, 0.01)} if georef else {}
    with rasterio.open(p, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", **kw) as dst:
        dst.write(np.full((1, 4, 4), 100.0, np.float32))
    return p


def _shapefile(folder: Path, codes) -> Path:
    p = folder / "units.shp"
    gpd.GeoDataFrame({"code": list(codes)}, geometry=[box(100.0, 40.0, 100.1, 40.1), box(100.1, 40.0, 100.2, 40.1)],
                     crs="EPSG:4326").to_file(p, driver="ESRI Shapefile")
    return p


def test_an_aux_xml_scale_that_appears_or_changes_changes_the_digest(tmp_path):
    tif = _tif(tmp_path / "precipitation.tif")
    before = input_digest(str(tif))
    aux = Path(f"{tif}.aux.xml")
    aux.write_text(PAM.format(0.5))
    grid = Grid.from_raster(tif)
    assert float(read_raster(tif, grid).compute().values[0, 0]) == 50.0  # the stale result is real: irrmap reads x 0.5
    with rasterio.open(tif) as src:
        assert src.scales == (0.5,)  # GDAL's truth
    halved = input_digest(str(tif))
    assert halved != before
    aux.write_text(PAM.format(0.25))
    assert input_digest(str(tif)) not in (before, halved)
    aux.unlink()
    assert input_digest(str(tif)) == before == _sha(tif)


def test_a_world_file_read_by_gdal_changes_the_digest(tmp_path):
    tif = _tif(tmp_path / "dem.tif", georef=False)
    before = input_digest(str(tif))
    tfw = tmp_path / "dem.tfw"
    tfw.write_text("0.01\n0\n0\n-0.01\n100.005\n39.995\n")
    with rasterio.open(tif) as src:
        assert src.transform.c == pytest.approx(100.0)  # GDAL places the raster by the world file
    first = input_digest(str(tif))
    assert first != before
    tfw.write_text("0.01\n0\n0\n-0.01\n101.005\n39.995\n")  # moved one degree east, same size
    with rasterio.open(tif) as src:
        assert src.transform.c == pytest.approx(101.0)
    assert input_digest(str(tif)) not in (before, first)


def test_a_shapefile_dbf_code_change_changes_the_digest(tmp_path):
    shp = _shapefile(tmp_path, ["620101", "620102"])
    parts = {e: _sha(shp.with_suffix(e)) for e in (".shp", ".shx")}
    before = input_digest(str(shp))
    _shapefile(tmp_path, ["620102", "620101"])  # the codes swapped: geometry files keep their bytes
    assert {e: _sha(shp.with_suffix(e)) for e in (".shp", ".shx")} == parts
    assert list(pyogrio.read_dataframe(shp)["code"]) == ["620102", "620101"]
    swapped = input_digest(str(shp))
    assert swapped != before
    shp.with_suffix(".cpg").write_text("CP936")  # another encoding declared (GDAL wrote UTF-8)
    assert input_digest(str(shp)) not in (before, swapped)


def test_a_vrt_source_rewritten_changes_the_vrt_digest(tmp_path):
    """A VRT names its source; the source's values are what the VRT reads (gdalbuildvrt writes the VRT)."""
    src = _tif(tmp_path / "source.tif")
    vrt = tmp_path / "mosaic.vrt"
    subprocess.run(["gdalbuildvrt", "-q", str(vrt), str(src)], check=True)
    before, own = input_digest(str(vrt)), _sha(vrt)
    with rasterio.open(src, "r+") as dst:
        dst.write(np.full((1, 4, 4), 7.0, np.float32))
    with rasterio.open(vrt) as v:
        assert v.read(1)[0, 0] == 7.0
    assert _sha(vrt) == own and input_digest(str(vrt)) != before  # the VRT's own bytes did not change


def test_a_folder_of_shapefiles_is_digested_by_the_files_in_it(tmp_path):
    """OGR opens a folder as a dataset of its shapefiles ([units].path = a folder passes the checks); its digest
    follows the .dbf codes inside it (it raised IsADirectoryError at the first fingerprint)."""
    folder = tmp_path / "units"
    folder.mkdir()
    _shapefile(folder, ["620101", "620102"])
    assert list(pyogrio.read_dataframe(folder)["code"]) == ["620101", "620102"]
    before = input_digest(str(folder))
    assert input_digest(str(folder)) == before
    _shapefile(folder, ["620102", "620101"])
    assert input_digest(str(folder)) != before


def test_plain_file_keeps_its_sha256_and_ignores_unrelated_files(tmp_path):
    """Control: no companion, the file's own SHA-256; other files in the folder change nothing."""
    tif = _tif(tmp_path / "precipitation.tif")
    shp = _shapefile(tmp_path, ["620101", "620102"])
    d_tif, d_shp = input_digest(str(tif)), input_digest(str(shp))
    assert d_tif == _sha(tif)
    (tmp_path / "notes.txt").write_text("unrelated")
    (tmp_path / "precipitation_old.tif.aux.xml").write_text(PAM.format(0.5))  # another file's sidecar
    (tmp_path / "other.dbf").write_bytes(shp.with_suffix(".dbf").read_bytes())
    _tif(tmp_path / "temperature.tif")
    assert (input_digest(str(tif)), input_digest(str(shp))) == (d_tif, d_shp)


def test_moving_the_folder_with_its_companions_keeps_the_digest(tmp_path):
    """Control: companions are named relative to the input's folder (a copied run folder resumes)."""
    a = tmp_path / "a"
    a.mkdir()
    tif = _tif(a / "p.tif")
    Path(f"{tif}.aux.xml").write_text(PAM.format(0.5))
    b = Path(shutil.copytree(a, tmp_path / "b"))
    assert input_digest(str(b / "p.tif")) == input_digest(str(tif))


def test_the_digest_cache_checks_each_companion_by_its_own_identity(tmp_path, monkeypatch):
    """A companion rewritten with the same size and its old mtime put back is hashed again (its ctime moved), and
    one that appears between two runs with a warm cache changes the digest."""
    monkeypatch.setattr(manifest, "RACY_NS", -10**18)  # remember digests of files just written
    tif = _tif(tmp_path / "precipitation.tif")
    store = tmp_path / "digests.json"
    cache = DigestCache(store)
    plain = input_digest(str(tif), cache.sha256)
    cache.save()
    aux = Path(f"{tif}.aux.xml")
    aux.write_text(PAM.format(0.5))
    cache = DigestCache(store)
    with_aux = input_digest(str(tif), cache.sha256)
    assert with_aux != plain and with_aux == input_digest(str(tif))
    cache.save()
    st = aux.stat()
    aux.write_text(PAM.format(0.7))  # same length
    os.utime(aux, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert aux.stat().st_size == st.st_size and aux.stat().st_mtime_ns == st.st_mtime_ns
    cache = DigestCache(store)
    assert input_digest(str(tif), cache.sha256) == input_digest(str(tif)) != with_aux


def test_a_sidecar_added_after_a_run_reruns_the_stage_that_reads_it(project):  # noqa: F811
    """The tiny project: a dem.tif.aux.xml Scale 0.5 added after a complete run reruns inputs.dem (whose aligned
    DEM is then half the first one) and not inputs.cropland; a swapped shapefile code reruns units."""
    cfg = project / "config.toml"
    _shapefile(project, ["620101", "620102"])
    cfg.write_text(cfg.read_text().replace('path = "units.gpkg"', 'path = "units.shp"'))
    assert run_pipeline(cfg)["status"] == "complete"
    out = project / "out"
    with rasterio.open(out / "aligned" / "dem.tif") as src:
        dem1 = src.read(1, masked=True).astype("float64")
    Path(f"{project / 'dem.tif'}.aux.xml").write_text(PAM.format(0.5))
    run_pipeline(cfg)
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    assert stages["inputs.dem"]["status"] == "ran"
    assert stages["inputs.cropland"]["status"] != "ran" and stages["units"]["status"] != "ran"
    with rasterio.open(out / "aligned" / "dem.tif") as src:
        dem2 = src.read(1, masked=True).astype("float64")
    np.testing.assert_allclose(dem2.filled(np.nan), 0.5 * dem1.filled(np.nan), rtol=1e-6)
    _shapefile(project, ["620102", "620101"])
    run_pipeline(cfg)
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    assert stages["units"]["status"] == "ran" and stages["inputs.dem"]["status"] != "ran"
