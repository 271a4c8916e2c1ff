"""One file for two roles in the single-stage commands: `suitability aridity --precip P --pet P` wrote AI = 1.0
everywhere (exit 0), `features index gi --nir B --green B` GI = 1.0, `features nscore --crop F --natural F` counted
every crop share twice. Now refused (DataError, exit 2) naming both options, also for a byte-identical copy; other
layers of one file, and different files, still run. Truth: the AI computed by hand from the rasters written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.errors import DataError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PRECIP = DATA / "climate" / "china_precipitation_5km.tif"
T = Affine(0.05, 0, 100.0, 0, -0.05, 40.0)


def _raster(path, arr, count=1):
    arr = np.asarray(arr, np.float32).reshape(count, *np.shape(arr)[-2:])
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[1], width=arr.shape[2], count=count, dtype="float32",
                       crs="EPSG:4326", transform=T, nodata=np.nan) as dst:
        dst.write(arr)
    return path


def _climate(tmp_path):
    rng = np.random.default_rng(5)
    p = _raster(tmp_path / "p.tif", rng.uniform(300, 900, (5, 6)))
    e = _raster(tmp_path / "pet.tif", rng.uniform(900, 1400, (5, 6)))
    return p, e


def test_aridity_with_precipitation_as_pet_is_refused(tmp_path, capsys):
    p, _ = _climate(tmp_path)
    out = tmp_path / "ai.tif"
    assert main(["suitability", "aridity", str(out), "--precip", str(p), "--pet", str(p)]) == 2  # was 0, AI = 1.0
    err = capsys.readouterr().err
    assert "--precip and --pet read the same data (the same file" in err and "Traceback" not in err
    assert not out.exists()


def test_aridity_with_a_copy_of_the_precipitation_is_refused(tmp_path, capsys):
    p, _ = _climate(tmp_path)
    shutil.copy(p, tmp_path / "pet_copy.tif")
    assert main(["suitability", "aridity", str(tmp_path / "ai.tif"), "--precip", str(p), "--pet", str(tmp_path / "pet_copy.tif")]) == 2
    assert "identical bytes" in capsys.readouterr().err


def test_aridity_of_two_files_is_p_over_pet(tmp_path):
    p, e = _climate(tmp_path)
    out = tmp_path / "ai.tif"
    assert main(["suitability", "aridity", str(out), "--precip", str(p), "--pet", str(e)]) == 0
    with rasterio.open(p) as a, rasterio.open(e) as b, rasterio.open(out) as o:
        np.testing.assert_allclose(o.read(1), a.read(1) / b.read(1), rtol=1e-6)


def test_index_nir_as_green_is_refused_but_two_layers_of_one_file_run(tmp_path, capsys):
    rng = np.random.default_rng(2)
    folder = tmp_path / "refl"
    folder.mkdir()
    nir, green = rng.uniform(0.2, 0.4, (5, 6)), rng.uniform(0.05, 0.1, (5, 6))
    _raster(folder / "MOD09_2012-01-01.tif", np.stack([nir, green]), count=2)
    out = tmp_path / "gi.tif"
    assert main(["features", "index", "gi", str(out), "--nir", str(folder), "--green", str(folder),
                 "--nir-band", "1", "--green-band", "1"]) == 2  # was 0 with GI = 1.0
    assert "--nir and --green read the same data" in capsys.readouterr().err
    assert main(["features", "index", "gi", str(out), "--nir", str(folder), "--green", str(folder),
                 "--nir-band", "1", "--green-band", "2"]) == 0
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), nir / green, rtol=1e-5)


def test_nscore_crop_as_natural_is_refused(tmp_path, capsys):
    vi = _raster(tmp_path / "vi.tif", np.full((5, 6), 0.6))
    crop = _raster(tmp_path / "crop.tif", np.full((5, 6), 0.3))
    assert main(["features", "nscore", "--crop", str(crop), "--natural", str(crop), "--window", "3", str(vi),
                 str(tmp_path / "n.tif")]) == 2
    assert "--crop and --natural read the same data" in capsys.readouterr().err


def test_roles_of_one_meaning_and_absent_options_pass(tmp_path):
    from irrmap.training.distinct_files import check_distinct_files, role

    p, e = _climate(tmp_path)
    check_distinct_files(role("--precip", "precipitation", [p, p]), role("--pet", "PET", [e]), role("--albedo", "albedo", None))
    with pytest.raises(DataError, match="--precip / --pet"):
        check_distinct_files(role("--precip", "precipitation", [p]), role("--pet", "PET", [e, p]))


@pytest.mark.skipif(not PRECIP.exists(), reason="real data folder ../shared/data absent")
def test_real_china_precipitation_for_both_roles(tmp_path, capsys):
    assert main(["suitability", "aridity", str(tmp_path / "ai.tif"), "--precip", str(PRECIP), "--pet", str(PRECIP)]) == 2
    assert "precipitation and PET must differ" in capsys.readouterr().err


def test_composite_with_the_vi_as_its_qa_is_refused(tmp_path, capsys):
    """The VI file given as its own VI_Quality: its values read as QA bits rejected 82 % of the real MOD13Q1 NDVI's
    pixels (exit 0); a VI_Quality file of the same date still runs."""
    raw = np.full((5, 6), 6000, np.int16)
    vi = tmp_path / "MOD13Q1.A2010129.NDVI.tif"
    qa = tmp_path / "MOD13Q1.A2010129.VI_Quality.tif"
    for path, arr in ((vi, raw), (qa, np.zeros((5, 6), np.int16))):  # QA word 0: good quality, accepted
        with rasterio.open(path, "w", driver="GTiff", height=5, width=6, count=1, dtype="int16", crs="EPSG:4326",
                           transform=T) as dst:
            dst.write(arr, 1)
    out = tmp_path / "max.tif"
    assert main(["features", "composite", "--preset", "mod13q1", "--qa", str(vi), "--", str(out), str(vi)]) == 2
    assert "FILE and --qa read the same data" in capsys.readouterr().err
    assert main(["features", "composite", "--preset", "mod13q1", "--qa", str(qa), "--", str(out), str(vi)]) == 0
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), 0.6, rtol=1e-6)
