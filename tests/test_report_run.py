"""The demo run end to end, as an analyst reads it: the report's sections, its numbers against independent
calculations from the run's own files (points, statistics tables, input files), the outputs checked with
gdalinfo, and the console's closing summary.

Truth used here:
- design-based OA: the Hajek/Horvitz-Thompson estimate sum c_k / pi_k / sum 1 / pi_k from points_sampled.csv
  with pandas (c_k = map label equals reference label);
- the city and province rows: the demo's own city.csv / province.csv (2020, actual, 1000 ha = 1e7 m2);
- input checksums: hashlib.sha256 of the files;
- colour tables and data types: gdalinfo -json.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pandas as pd
import rasterio
import pytest


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from irrmap import generate_demo

    demo = tmp_path_factory.mktemp("report_run") / "demo"
    generate_demo(demo, rows=96, cols=128)
    proc = subprocess.run([sys.executable, "-m", "irrmap", "run", str(demo / "config.toml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return demo, demo / "output", proc


def test_design_based_oa_in_results_is_the_horvitz_thompson_estimate(run):
    _, out, _ = run
    s = pd.read_csv(out / "evaluation" / "points_sampled.csv")
    s = s[s["used"]]
    w = 1 / s["inclusion_prob"]
    hajek = float((w * (s["map"] == s["reference"])).sum() / w.sum())
    results = json.loads((out / "evaluation" / "results.json").read_text())
    assert results["design_based"]["overall_accuracy"] == pytest.approx(hajek, abs=1e-12)
    assert results["points"]["overall_accuracy"] == pytest.approx(float((s["map"] == s["reference"]).mean()), abs=1e-12)
    strata = pd.DataFrame(results["design_based"]["strata"]).set_index("stratum")
    assert strata["n"].to_dict() == s.groupby("stratum").size().to_dict()


def test_report_reads_as_a_results_section(run):
    demo, out, _ = run
    md = (out / "evaluation" / "report.md").read_text()
    html = (out / "evaluation" / "report.html").read_text()
    order = ["## What was mapped", "## Map", "## Accuracy (design-based)", "## Model diagnostics",
             "## Consistency with the statistics the map was constrained to", "## Flags and next steps"]
    pos = [md.index(h) for h in order]
    assert pos == sorted(pos)
    assert md.startswith("# Irrigated cropland map: irrmap-demo") and "Headline: overall accuracy" in md
    digest = hashlib.sha256((demo / "inputs" / "reference" / "points.gpkg").read_bytes()).hexdigest()
    assert f"{digest}  inputs/reference/points.gpkg" in md  # sha256sum's format
    assert "rf, scope global" in md and "blocked CV" in md and "threshold map sevi" in md
    assert "@media print" in html and "<details><summary>Config</summary>" in html
    map_section = md[md.index("## Map"):md.index("## Accuracy (design-based)")]
    assert "no data" not in map_section  # the demo's class map has no missing pixel on cropland


def test_each_level_is_compared_with_its_own_table(run):
    demo, out, _ = run
    for level in ("city", "province"):
        own = pd.read_csv(demo / "inputs" / "statistics" / f"{level}.csv", dtype={"code": str})
        own = own[(own["year"] == 2020) & (own["variant"] == "actual")].set_index("code")["irrigated_area"] * 1e7
        got = pd.read_csv(out / "evaluation" / f"statistics_{level}.csv", dtype={"code": str}).set_index("code")["statistic_m2"]
        pd.testing.assert_series_equal(got.sort_index(), own.reindex(got.index).sort_index(), check_names=False, rtol=1e-9)
    results = json.loads((out / "evaluation" / "results.json").read_text())
    assert results["statistics"]["sources"]["city"] == "its own table (city.csv)"
    assert results["statistics"]["left_out"]["units_without_statistic"] == ["610203"]  # the demo's county without a row
    assert "610203" in (out / "evaluation" / "report.md").read_text()


def test_outputs_have_colour_tables_float32_and_the_unit_table(run):
    demo, out, _ = run

    def info(p):
        return json.loads(subprocess.run(["gdalinfo", "-json", str(p)], check=True, capture_output=True, text=True).stdout)["bands"][0]

    for p in (out / "mapping" / "class.tif", out / "training" / "threshold_sevi.tif", out / "water" / "2020" / "water.tif",
              out / "water" / "2020" / "persistence.tif"):
        assert info(p)["colorInterpretation"] == "Palette", p
    assert info(out / "mapping" / "irrigated_area_1km.tif")["type"] == "Float32"
    t = pd.read_csv(out / "mapping" / "irrigated_area_by_unit.csv", dtype={"code": str})
    sums = t.groupby("level")["irrigated_area_ha"].sum()
    tol = 5e-5 * len(t)  # the CSV rounds each area to 4 decimals (0.0001 ha)
    assert sums["county"] == pytest.approx(sums["city"], abs=tol) and sums["county"] == pytest.approx(sums["province"], abs=tol)
    stats = pd.read_csv(demo / "inputs" / "statistics" / "county.csv", dtype={"code": str})
    stats = stats[(stats["year"] == 2020) & (stats["variant"] == "actual")].set_index("code")["irrigated_area"] * 1000  # 1000 ha -> ha
    county = t[t["level"] == "county"].set_index("code")["statistic_ha"].dropna()
    pd.testing.assert_series_equal(county.sort_index(), stats.reindex(county.index).sort_index(), check_names=False, rtol=1e-9)


def test_console_closing_summary(run):
    _, out, proc = run
    manifest = json.loads((out / "manifest.json").read_text())
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("accuracy: OA ") and "95 % CI" in ln and "design-based" in ln for ln in lines)
    assert any(ln.startswith("mapped irrigated area: ") for ln in lines)
    assert f"warnings: {len(manifest['warnings'])}" in proc.stdout
    assert f"report: {out / 'evaluation' / 'report.html'}" in proc.stdout
    assert "Created" not in proc.stderr  # pyogrio's "Created N records" INFO lines are silenced


def test_frame_pixel_area_defaults_to_the_grids_mean_true_pixel_area(run):
    """The demo draws its points on the run's grid: sizes in frame pixels become ha through the grid's mean pixel
    area, here computed with pyproj.Geod from the class map's own transform."""
    from pyproj import Geod

    _, out, _ = run
    with rasterio.open(out / "mapping" / "class.tif") as src:
        t, h = src.transform, src.height
    geod = Geod(ellps="WGS84")
    rows = [abs(geod.polygon_area_perimeter([t.c, t.c + t.a, t.c + t.a, t.c], [y, y, y + t.e, y + t.e])[0])
            for y in (t.f + t.e * r for r in range(h))]
    mean_ha = sum(rows) / h / 1e4
    results = json.loads((out / "evaluation" / "results.json").read_text())
    assert results["design_based"]["design"]["frame_pixel_area_ha"] == pytest.approx(mean_ha, rel=1e-6)


# class maps by file name: every one carries a colour table (QGIS / gdalinfo show the classes without a style file)
CLASS_MAP_NAMES = ("class.tif", "water.tif", "persistence.tif", "transitions.tif")
CLASS_MAP_PREFIXES = ("threshold_", "change_")


def test_every_class_map_of_the_run_has_a_colour_table(run):
    _, out, _ = run
    maps = [p for p in out.rglob("*.tif")
            if (p.name in CLASS_MAP_NAMES or p.name.startswith(CLASS_MAP_PREFIXES)) and not {"resume", "aligned"} & set(p.parts)]
    assert {p.name for p in maps} >= {"class.tif", "water.tif", "transitions.tif"}, sorted(p.name for p in maps)
    missing = []
    for p in maps:
        with rasterio.open(p) as src:
            if src.dtypes[0] != "uint8":
                continue
            try:
                src.colormap(1)
            except ValueError:
                missing.append(str(p.relative_to(out)))
    assert not missing, f"class maps without a colour table: {missing}"
