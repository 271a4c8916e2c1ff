"""Two faults of a new-user probe.

1. A VI series stored x 1e4 holding MOD13Q1's fill -3000 without declaring it, read with `--scale 1e-4`, was composited
   with the fill as an NDVI of -0.3 (vi_min -0.300, vi_count 23 everywhere, vi_mean 0.239 for 0.425) and exit 0: every
   series reader (per-date files, a multi-band stack, a cube; the CLI and the run's [features] series) now refuses it,
   naming the fill, its count and the fix (--fill -3000 / --preset mod13q1, or the config's fill_values).
2. Values in percent (NDVI x 100, reflectance 0..100) got "x 10,000" advice (--scale 0.0001 / "scale": 0.0001), which
   gives values 100 times too small: the hint now names the factor the values fit (irrmap.core.stored_scale).

Truths: numpy on the stored values (the real Mato Grosso MOD13Q1 NDVI of /work/shared/data when present, else skipped,
and small synthetic files)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.errors import DataError, InputError

MATO = Path("/work/shared/data/modis/matogrosso_mod13q1")
TRANSFORM = Affine(231.656358, 0, -6089550.68, 0, -231.656358, -1332950.72)
CRS = "EPSG:32722"
DATES = [dt.date(2011, 9, 14) + dt.timedelta(days=16 * k) for k in range(23)]


def _write(path, arr, dtype="int16", descriptions=None):
    arr = np.asarray(arr)
    arr = arr[None] if arr.ndim == 2 else arr
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0], dtype=dtype,
                       crs=CRS, transform=TRANSFORM) as dst:
        dst.write(arr.astype(dtype))
        for i, d in enumerate(descriptions or (), start=1):
            dst.set_band_description(i, d)
    return path


def _series(folder: Path, stack: np.ndarray, dtype="int16") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for d, a in zip(DATES, stack):
        _write(folder / f"NDVI_{d:%Y-%m-%d}.tif", a, dtype)
    return folder


def _with_fill(stored: np.ndarray, share=0.1, fill=-3000, seed=7) -> np.ndarray:
    out = stored.copy()
    out[np.random.default_rng(seed).random(out.shape) < share] = fill
    return out


def _synthetic(seed=3, shape=(23, 20, 24)) -> np.ndarray:
    """NDVI x 1e4 of a green season: 0.15..0.95."""
    return np.round(np.random.default_rng(seed).uniform(1500, 9500, shape)).astype(np.int16)


def _band(path, k=1):
    with rasterio.open(path) as src:
        return src.read(k)


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("irrmap: error:") and "(fix:" in err and "Traceback" not in err, err
    return err


# ---- 1. an undeclared fill in a series read with a scale -------------------------------------------------------------
@pytest.mark.skipif(not MATO.is_dir(), reason="needs /work/shared/data")
def test_real_mod13q1_with_undeclared_fill_is_refused_and_fill_gives_numpy_truth(tmp_path, capsys):
    files = sorted(MATO.glob("MOD13Q1_*.tif"))
    stored = np.stack([np.round(_band(f, 1) * 1e4) for f in files]).astype(np.int16)  # layer 1: NDVI, decoded floats
    raw = _with_fill(stored)
    folder = _series(tmp_path / "raw", raw)
    out = tmp_path / "c.tif"
    assert main(["-q", "features", "composite", str(out), str(folder), "--scale", "1e-4", "--stat", "min", "--stat", "count"]) == 2
    err = _err(capsys)
    n = int(np.count_nonzero(raw == -3000))
    assert "-3000" in err and f"{n:,}" in err and "--fill -3000" in err and "--preset mod13q1" in err, err
    assert not out.exists()
    # the fix as written: numpy's masked statistics
    assert main(["-q", "features", "composite", str(out), str(folder), "--scale", "1e-4", "--fill", "-3000",
                 "--stat", "min", "--stat", "count"]) == 0
    masked = np.where(raw == -3000, np.nan, raw * 1e-4)
    np.testing.assert_allclose(_band(out, 1), np.nanmin(masked, axis=0), rtol=1e-5)
    np.testing.assert_array_equal(_band(out, 2), np.sum(raw != -3000, axis=0))


def test_synthetic_fill_refused_in_files_and_stack(tmp_path, capsys):
    raw = _with_fill(_synthetic())
    folder = _series(tmp_path / "raw", raw)
    assert main(["-q", "features", "composite", str(tmp_path / "c.tif"), str(folder), "--scale", "0.0001", "--stat", "min"]) == 2
    assert "-3000" in _err(capsys)
    stack = _write(tmp_path / "stack.tif", raw, descriptions=[f"{d:%Y-%m-%d}" for d in DATES])
    assert main(["-q", "features", "composite", str(tmp_path / "s.tif"), str(stack), "--scale", "0.0001", "--stat", "min"]) == 2
    assert "-3000" in _err(capsys)


def test_run_series_reader_names_the_config_key(tmp_path):
    from irrmap.training.timeseries import read_timeseries

    folder = _series(tmp_path / "raw", _with_fill(_synthetic()))
    with pytest.raises(DataError) as exc:
        read_timeseries(folder, scale=1e-4, name="ndvi", source_option="[features].ndvi")
    assert "[features].ndvi" in str(exc.value) and "fill_values = [-3000]" in exc.value.fix


def test_cube_with_undeclared_fill_is_refused(tmp_path):
    import xarray as xr

    from irrmap.training.timeseries import read_timeseries

    raw = _with_fill(_synthetic(shape=(23, 12, 14)))
    ds = xr.Dataset({"NDVI": (("time", "y", "x"), raw)},
                    coords={"time": np.array(DATES, "datetime64[ns]"), "y": 8_000_000 - 250 * (np.arange(12) + 0.5),
                            "x": 500_000 + 250 * (np.arange(14) + 0.5)})
    ds.rio.write_crs(CRS, inplace=True)
    path = tmp_path / "cube.nc"
    ds.to_netcdf(path)
    with pytest.raises(DataError) as exc:
        read_timeseries(path, variable="NDVI", scale=1e-4, name="ndvi")
    assert "-3000" in str(exc.value)


def test_series_without_fill_or_with_fill_declared_passes_control(tmp_path):
    from irrmap.training.timeseries import read_timeseries

    clean = _synthetic()
    clean[:, :3, :3] = np.arange(-1200, -1200 + 23 * 9 * 10, 10).reshape(23, 3, 3)  # water: a continuous negative tail
    out = read_timeseries(_series(tmp_path / "a", clean), scale=1e-4).values
    np.testing.assert_allclose(out, clean * 1e-4, rtol=1e-5)
    raw = _with_fill(_synthetic())
    out = read_timeseries(_series(tmp_path / "b", raw), preset="mod13q1").values
    np.testing.assert_allclose(out, np.where(raw == -3000, np.nan, raw * 1e-4), rtol=1e-5)


def test_series_fill_rule():
    from irrmap.core.fill_values import series_fill

    rest = np.arange(1462, 9820, dtype=np.float64)
    assert series_fill(np.r_[rest, np.full(500, -3000.0)])[:2] == (-3000.0, 500)
    assert series_fill(np.r_[rest, -99.0]) is None  # one stray value (NDVI -0.0099), not a fill
    assert series_fill(np.r_[np.arange(-2990, 9820), np.full(500, -3000.0)]) is None  # -3000 next to real values


# ---- 2. the stored factor of a hint --------------------------------------------------------------------------------------
def test_stored_scale_rule():
    from irrmap.core.stored_scale import stored_scale

    assert stored_scale(98.19).scale == 0.01
    assert stored_scale(900.0).scale == 0.001
    assert stored_scale(9819.0).scale == 0.0001
    assert stored_scale(0.98) is None and stored_scale(30000.0) is None


def test_percent_vi_gets_scale_001_and_following_it_gives_numpy_truth(tmp_path, capsys):
    pct = np.random.default_rng(4).uniform(14.62, 98.19, (23, 20, 24)).astype(np.float32)
    folder = _series(tmp_path / "pct", pct, "float32")
    out = tmp_path / "c.tif"
    assert main(["-q", "features", "composite", str(out), str(folder), "--stat", "max"]) == 2
    err = _err(capsys)
    assert "--scale 0.01" in err and "0.0001" not in err and "mod13q1" not in err, err
    assert main(["-q", "features", "composite", str(out), str(folder), "--scale", "0.01", "--stat", "max"]) == 0
    np.testing.assert_allclose(_band(out), pct.max(axis=0) * 0.01, rtol=1e-5)


def test_x1e4_vi_keeps_the_mod13q1_fix_control(tmp_path, capsys):
    folder = _series(tmp_path / "raw", _synthetic())
    assert main(["-q", "features", "composite", str(tmp_path / "c.tif"), str(folder), "--stat", "max"]) == 2
    assert "--preset mod13q1" in _err(capsys)


NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")


def _stack(path, values, sidecar):
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[2], height=values.shape[1], count=6, dtype="float32",
                       crs="EPSG:32612", transform=Affine(30, 0, 300000, 0, -30, 4200000)) as dst:
        for i, name in enumerate(NAMES, start=1):
            dst.write(values[i - 1].astype("float32"), i)
            dst.set_band_description(i, name)
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def test_percent_scene_stack_gets_scale_001_and_following_it_gives_reflectance(tmp_path):
    from irrmap.sources import read_scene

    centres = np.array([8.0, 9.0, 7.0, 25.0, 15.0, 8.0])[:, None, None]  # reflectance percent of a land scene
    pct = centres * np.random.default_rng(5).uniform(0.6, 1.4, (6, 16, 16))
    meta = {"date": "2015-06-04", "sensor": "LC08", "level": "L2", "scale": 1}
    p = _stack(tmp_path / "pct.tif", pct, meta)
    with pytest.raises(InputError) as exc:
        read_scene(p).bands["nir"].values
    assert '"scale": 0.01' in exc.value.fix and "0.0001" not in exc.value.fix, exc.value.fix
    p = _stack(tmp_path / "fixed.tif", pct, {**meta, "scale": 0.01, "offset": 0})
    np.testing.assert_allclose(read_scene(p).bands["nir"].values, pct[3] * 0.01, rtol=1e-5)


def test_x1e4_scene_stack_keeps_scale_00001_control(tmp_path):
    from irrmap.sources import read_scene

    centres = np.array([800.0, 900.0, 700.0, 2500.0, 1500.0, 800.0])[:, None, None]
    p = _stack(tmp_path / "sr.tif", centres * np.random.default_rng(5).uniform(0.6, 1.4, (6, 16, 16)),
               {"date": "2015-06-04", "sensor": "LC08", "level": "L2", "scale": 1})
    with pytest.raises(InputError) as exc:
        read_scene(p).bands["nir"].values
    assert '"scale": 0.0001' in exc.value.fix
