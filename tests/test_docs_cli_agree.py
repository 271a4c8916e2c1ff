"""The documentation and the mapping CLI agree with the program (probe L findings).

Truth is independent of irrmap: pixel areas from pyproj.Geod (tests/geod_truth.py), sums in numpy by hand.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
from geod_truth import geodesic_row_areas
from rasterio.transform import from_origin

from irrmap.app.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs"
X0, Y0, RES = 104.0, 38.5, 0.0025  # a geographic 250 m-ish grid, north-up
H, W = 10, 9  # not multiples of 4: partial blocks at the right and bottom


def _write(path: Path, arr: np.ndarray, nodata=None, desc: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype=arr.dtype,
                       crs="EPSG:4326", transform=from_origin(X0, Y0, RES, RES), nodata=nodata) as dst:
        dst.write(arr, 1)
        if desc:
            dst.set_band_description(1, desc)
    return path


def _inputs():
    """(classes uint8 0/1/255, cropland float32 0..1 with NaN): a small class map and its cropland."""
    rng = np.random.default_rng(7)
    crop = rng.uniform(0.0, 1.0, (H, W)).astype(np.float32)
    crop[rng.random((H, W)) < 0.2] = 0.0
    crop[0, :3] = np.nan  # cropland nodata
    cls = np.where(rng.random((H, W)) < 0.6, 1, 0).astype(np.uint8)
    cls[(crop == 0) | ~np.isfinite(crop)] = 255
    return cls, crop


def _hand_m2(cls, crop) -> float:
    """class 1 x cropland fraction x Geod pixel area, summed in numpy (float64)."""
    rows = geodesic_row_areas(X0, Y0, RES, H)[:, None]
    return float((np.where(cls == 1, np.nan_to_num(crop.astype(np.float64)), 0.0) * rows).sum())


def test_aggregate_cli_with_cropland_equals_hand_sum(tmp_path):
    # the docs' chain `irrmap mapping aggregate filtered/class.tif --cropland cropland.tif` reproduces the run's
    # 1 km product (class 1 x float cropland x true area); the old CLI had no --cropland (argparse: exit 2)
    cls, crop = _inputs()
    _write(tmp_path / "class.tif", cls, nodata=255, desc="1 irrigated, 0 not")
    _write(tmp_path / "crop.tif", crop, nodata=float("nan"))
    rc = main(["-q", "mapping", "aggregate", str(tmp_path / "class.tif"), "--cropland", str(tmp_path / "crop.tif"),
               "--out", str(tmp_path / "km.tif")])
    assert rc == 0
    with rasterio.open(tmp_path / "km.tif") as src:
        km = src.read(1).astype(np.float64)
    assert km.shape == (3, 3)
    np.testing.assert_allclose(np.nansum(km), _hand_m2(cls, crop), rtol=1e-6)  # float32 on disk
    rows = geodesic_row_areas(X0, Y0, RES, H)[:, None]
    share = np.where(cls == 1, np.nan_to_num(crop.astype(np.float64)), 0.0) * rows
    np.testing.assert_allclose(km[2, 2], share[8:, 8:].sum(), rtol=1e-6)  # the partial corner block
    # the rounded percent map (fraction.tif) gives another total: the reason the docs no longer sum it
    pct = np.where(cls == 1, np.round(100 * np.nan_to_num(crop)), np.where(cls == 255, 255, 0)).astype(np.uint8)
    assert abs((np.where(pct == 255, 0, pct) / 100.0 * rows).sum() - _hand_m2(cls, crop)) > 1.0


def test_aggregate_cli_percent_map_warns_rounding(tmp_path, caplog):
    cls, crop = _inputs()
    pct = np.where(cls == 1, np.round(100 * np.nan_to_num(crop)), np.where(cls == 255, 255, 0)).astype(np.uint8)
    _write(tmp_path / "fraction.tif", pct, nodata=255, desc="irrigated fraction (percent of the pixel)")
    with caplog.at_level(logging.WARNING):
        assert main(["mapping", "aggregate", str(tmp_path / "fraction.tif"), "--out", str(tmp_path / "km.tif")]) == 0
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("rounded to whole percent" in m and "--cropland" in m and "fraction.tif" in m for m in msgs), msgs


def test_aggregate_cli_cropland_refuses_a_percent_map_and_scale(tmp_path, capsys):
    cls, crop = _inputs()
    pct = np.where(cls == 1, np.round(100 * np.nan_to_num(crop)), np.where(cls == 255, 255, 0)).astype(np.uint8)
    frac = _write(tmp_path / "fraction.tif", pct, nodata=255, desc="irrigated fraction (percent of the pixel)")
    bare = _write(tmp_path / "bare.tif", pct, nodata=255)  # no band description: the values are judged
    c = _write(tmp_path / "crop.tif", crop, nodata=float("nan"))
    for m in (frac, bare):
        rc = main(["-q", "mapping", "aggregate", str(m), "--cropland", str(c), "--out", str(tmp_path / f"{m.stem}_km.tif")])
        err = capsys.readouterr().err
        assert rc == 2 and str(m) in err and "Traceback" not in err, err
        assert not (tmp_path / f"{m.stem}_km.tif").exists()
    clsf = _write(tmp_path / "class.tif", cls, nodata=255, desc="1 irrigated, 0 not")
    rc = main(["-q", "mapping", "aggregate", str(clsf), "--cropland", str(c), "--scale", "1", "--out", str(tmp_path / "s.tif")])
    err = capsys.readouterr().err
    assert rc == 2 and "--scale" in err and "Traceback" not in err


def test_aggregate_cli_names_a_percent_cropland(tmp_path, capsys):
    cls, crop = _inputs()
    clsf = _write(tmp_path / "class.tif", cls, nodata=255)
    c = _write(tmp_path / "crop_pct.tif", (crop * 100).astype(np.float32), nodata=float("nan"))
    rc = main(["-q", "mapping", "aggregate", str(clsf), "--cropland", str(c), "--out", str(tmp_path / "km.tif")])
    err = capsys.readouterr().err
    assert rc == 2 and str(c) in err and "--cropland-scale 0.01" in err, err
    rc = main(["-q", "mapping", "aggregate", str(clsf), "--cropland", str(c), "--cropland-scale", "0.01",
               "--out", str(tmp_path / "km.tif")])
    assert rc == 0
    with rasterio.open(tmp_path / "km.tif") as src:
        np.testing.assert_allclose(np.nansum(src.read(1).astype(np.float64)), _hand_m2(cls, crop), rtol=1e-5)


def _api_example():
    spec = importlib.util.spec_from_file_location("api_example", DOCS / "api_example.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_example_area_rule_counts_the_cropland_fraction(tmp_path):
    # docs/api_example.py printed whole pixels of class 1 (125.9 km2 against the run's 43.90 km2)
    from irrmap import Grid

    cls, crop = _inputs()
    _write(tmp_path / "mapping" / "class.tif", cls, nodata=255)
    _write(tmp_path / "aligned" / "cropland.tif", crop, nodata=float("nan"))
    grid = Grid.from_raster(tmp_path / "aligned" / "cropland.tif")
    km2 = _api_example().irrigated_km2(tmp_path, grid)
    np.testing.assert_allclose(km2, _hand_m2(cls, crop) / 1e6, rtol=1e-9)
    whole = float((np.where(cls == 1, 1.0, 0.0) * geodesic_row_areas(X0, Y0, RES, H)[:, None]).sum()) / 1e6
    assert whole > 1.2 * km2  # the old rule's answer is far off


def test_aridity_step_days_hint_names_a_mean_year(tmp_path, capsys):
    # annual mean meteorology with the default --step-days 1 gives a PET of one day: the hint names 365.25 (a mean
    # year, the demo's SECONDS_PER_YEAR = 365.25 x 86400), which docs/demo.md and the README give too
    from irrmap.app.demo.climate import SECONDS_PER_YEAR

    assert SECONDS_PER_YEAR == 365.25 * 86400.0
    ones = np.ones((H, W), np.float32)
    p = _write(tmp_path / "p.tif", 300 * ones)
    t = _write(tmp_path / "t.tif", 12 * ones)
    rh = _write(tmp_path / "rh.tif", 45 * ones)
    rs = _write(tmp_path / "rs.tif", 190 * ones)
    rc = main(["-q", "suitability", "aridity", str(tmp_path / "ai.tif"), "--precip", str(p), "--temperature", str(t),
               "--humidity", str(rh), "--radiation", str(rs)])
    err = capsys.readouterr().err
    assert rc == 2 and "--step-days 365.25" in err and "Traceback" not in err, err
    assert "--step-days 365.25" in (DOCS / "demo.md").read_text()
    assert "--step-days 365.25" in (DOCS.parent / "README.md").read_text()


@pytest.mark.parametrize("doc, absent, present", [
    ("models_mapping.md", "in the model card's order (refused otherwise)", "any order"),
    ("models_mapping.md", "aggregate filtered/fraction.tif", "aggregate filtered/class.tif --cropland cropland.tif"),
    ("models_mapping.md", "0.37 / 0.44 M crop px/s", "benchmarks/results/predict.json"),
    ("features.md", "logs one warning: they are physical values already", "is refused when the scale is below 1"),
    ("water.md", "# change.csv, transitions.tif (+", "transitions.csv"),
    ("demo.md", "under 200 MB", "peak memory about 1 GB"),  # measured: /usr/bin/time -v irrmap -q demo D: 992,212 kB
])
def test_docs_state_what_the_program_does(doc, absent, present):
    text = (DOCS / doc).read_text()
    assert absent not in text and present in text


def test_readme_and_package_docstring_are_current():
    import irrmap
    from irrmap.core.areas import M2_PER_UNIT

    readme = (DOCS.parent / "README.md").read_text()
    line = readme[readme.index("Area units accepted in statistics"):readme.index("Admin hierarchies")]
    for unit in M2_PER_UNIT:
        assert f"`{unit}`" in line, unit
    assert "Earth Engine next" not in readme
    assert "today" not in irrmap.__doc__.split("irrmap.sources")[1].split("\n- ")[0]
