"""The report's water section (issue 14, "where it plugs in"): its numbers against the files they come from, its
figures, its absence without [water], and the evaluation stage rerunning when the water layer changes.

Truth: the size classes recomputed here from each body's area (log10 km2 bins, left-closed: class = floor(log10
km2) + 3, clipped to 0..6), per-class sums of bodies.parquet and change.csv done here with plain pandas, the
seed's finding split by hand at 1,000 km2, score.json as written by the water stage, hand-counted blocks for the
class quick-look.
"""

from __future__ import annotations

import io
import json
import math
import re

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image

from irrmap.app.pipeline import run_pipeline
from irrmap.app.stages import evaluation, water
from irrmap.core.errors import DataError, InputError
from irrmap.evaluation.report import Report, class_quicklook_png, class_shares
from irrmap.evaluation.water_section import WaterFiles, size_class_table, water_section

CLASSES = ["<0.01", "0.01-0.1", "0.1-1", "1-10", "10-100", "100-1000", ">1000"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _class_of(km2) -> np.ndarray:
    return np.clip(np.floor(np.log10(np.asarray(km2, float))) + 3, 0, 6).astype(int)


def _md_table(md: str, *headers: str) -> pd.DataFrame:
    """The Markdown table whose header row starts with the cells `headers`, cells as text."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| " + " | ".join(headers) + " |"))
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines[start:] if line.startswith("|")]
    rows = [rows[0]] + rows[2:]
    end = next((i for i, r in enumerate(rows) if len(r) != len(rows[0])), len(rows))
    return pd.DataFrame(rows[1:end], columns=rows[0])


def _num(cell: str) -> float:
    return math.nan if cell == "n/a" else float(cell.replace(",", ""))


def _valid_png(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    img = Image.open(io.BytesIO(data))
    img.verify()
    return img.size


# ---- the demo, run end to end -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from irrmap import generate_demo

    out = tmp_path_factory.mktemp("water_report") / "demo"
    generate_demo(out, rows=96, cols=128)
    manifest = run_pipeline(out / "config.toml")
    return out, manifest


def _context(config):
    """The run context of `config` with every enabled stage's products registered, as the runner has it."""
    from irrmap.app.context import RunContext
    from irrmap.app.stages import build_stages
    from irrmap.core.config import load_config

    loaded = load_config(config)
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir)
    for s in build_stages(ctx):
        if s.enabled(ctx):
            ctx.products.update(s.provides(ctx))
    return ctx


def _files(demo) -> WaterFiles:
    return water.report_files(_context(demo / "config.toml"))


@pytest.mark.slow
def test_size_classes_per_epoch_are_the_bodies_files_sums(run):
    demo, manifest = run
    assert manifest["stages"]["water"]["status"] == manifest["stages"]["evaluation"]["status"] == "ran"
    files = _files(demo)
    results = json.loads((demo / "output" / "evaluation" / "results.json").read_text())["water"]
    md = (demo / "output" / "evaluation" / "report.md").read_text()
    assert "## Water bodies" in md
    table = _md_table(md, "size class (km2)")
    assert table["size class (km2)"].tolist() == [*CLASSES, "all"]
    assert list(results["epochs"]) == list(files.epochs) == ["1995", "2020"]
    for e, folder in files.epochs.items():
        bodies = pd.read_parquet(folder / "bodies.parquet")
        assert len(bodies) > 0
        cls = _class_of(bodies["area_m2"] / 1e6)
        want_n = np.bincount(cls, minlength=7)
        want_km2 = np.bincount(cls, weights=bodies["area_m2"], minlength=7) / 1e6
        want_unknown = np.bincount(cls, weights=bodies["unknown_m2"], minlength=7) / 1e6
        got = pd.DataFrame(results["epochs"][e]["size_classes"])
        assert got["size_class"].tolist() == CLASSES
        np.testing.assert_array_equal(got["n_bodies"], want_n)
        np.testing.assert_allclose(got["area_km2"], want_km2, rtol=1e-12, atol=0)
        np.testing.assert_allclose(got["unknown_km2"], want_unknown, rtol=1e-12, atol=0)
        # the rendered table: counts exact, areas to the 4 significant digits shown, and the totals row
        np.testing.assert_array_equal(table[f"{e}: bodies"].map(_num), [*want_n, want_n.sum()])
        np.testing.assert_allclose(table[f"{e}: km2"].map(_num), [*want_km2, want_km2.sum()], rtol=5e-4)
        np.testing.assert_allclose(table[f"{e}: unknown along, km2"].map(_num), [*want_unknown, want_unknown.sum()], rtol=5e-4)
        summary = json.loads(files.summary.read_text())[e]
        assert want_km2.sum() == pytest.approx(summary["bodies_km2"], rel=1e-12)
        assert summary["unknown_km2"] == 0.0  # no cloud in the demo: no unknown area, not a rounding residue of total - clear
        assert results["epochs"][e]["summary"]["unknown_km2"] == 0.0


@pytest.mark.slow
def test_change_per_size_class_and_the_seeds_finding_are_the_change_file_sums(run):
    demo, _ = run
    files = _files(demo)
    (a, b), folder = next(iter(files.changes.items()))
    change = pd.read_csv(folder / "change.csv")
    ref = np.where(change["area_a_km2"] > 0, change["area_a_km2"], change["area_b_km2"])  # class of the A area, B area when new
    cls = _class_of(ref)
    got = pd.DataFrame(json.loads((demo / "output" / "evaluation" / "results.json").read_text())["water"]["change"][f"{a}_{b}"]["size_classes"])
    assert got["size_class"].tolist() == CLASSES
    for col in ("area_a_km2", "area_b_km2"):
        np.testing.assert_allclose(got[col], np.bincount(cls, weights=change[col], minlength=7), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(got["n_bodies"], np.bincount(cls, minlength=7))
    np.testing.assert_array_equal(got["n_new"], np.bincount(cls[change["status"] == "new"], minlength=7))
    np.testing.assert_allclose(got["change_km2"].sum(), change["area_b_km2"].sum() - change["area_a_km2"].sum(), rtol=1e-12)
    raw = json.loads((demo / "output" / "evaluation" / "results.json").read_text())["water"]["change"][f"{a}_{b}"]["large_vs_small"]
    finding = pd.DataFrame(raw)
    large = ref >= 1000.0
    assert finding["n_bodies"].tolist() == [int(large.sum()), int((~large).sum())]
    assert finding["area_a_km2"].tolist() == pytest.approx([change["area_a_km2"][large].sum(), change["area_a_km2"][~large].sum()], rel=1e-12)
    assert finding["area_b_km2"].tolist() == pytest.approx([change["area_b_km2"][large].sum(), change["area_b_km2"][~large].sum()], rel=1e-12)
    assert raw[0]["change_pct"] is None  # the demo has no body of 1,000 km2: n/a, not 0 %
    md = (demo / "output" / "evaluation" / "report.md").read_text()
    shown = _md_table(md, "bodies of")
    assert shown["bodies of"].tolist() == [">= 1000 km2", "< 1000 km2"]
    assert shown["change km2"].map(_num).tolist() == pytest.approx([0.0, change["change_km2"].sum()], rel=5e-4)


@pytest.mark.slow
def test_body_scores_are_the_score_file(run):
    demo, _ = run
    files = _files(demo)
    scores = json.loads(files.score.read_text())
    results = json.loads((demo / "output" / "evaluation" / "results.json").read_text())["water"]
    assert results["scores"] == scores
    shown = _md_table((demo / "output" / "evaluation" / "report.md").read_text(), "epoch", "reference bodies").set_index("epoch")
    assert shown.index.tolist() == list(scores)
    for e, s in scores.items():
        row = shown.loc[e]
        assert _num(row["precision"]) == pytest.approx(s["precision"], rel=5e-4)
        assert _num(row["recall"]) == pytest.approx(s["recall"], rel=5e-4)
        assert int(row["matched"]) == s["n_matched"] and int(row["reference bodies"]) == s["n_reference"]
        assert _num(row["mean absolute area error %"]) == pytest.approx(s["area_error"]["mean_abs_pct"], abs=1e-9)


@pytest.mark.slow
def test_figures_are_valid_pngs_in_both_pages(run):
    demo, _ = run
    files = _files(demo)
    out = demo / "output" / "evaluation"
    names = ["water_map", *(f"water_change_{a}_{b}" for a, b in files.changes)]
    html = (out / "report.html").read_text()
    for name in names:
        w, h = _valid_png((out / "figures" / f"{name}.png").read_bytes())
        assert w >= 400 and h >= 250
        assert f"(figures/{name}.png)" in (out / "report.md").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    import base64

    pngs = {base64.b64decode(x) for x in embedded}
    assert {(out / "figures" / f"{n}.png").read_bytes() for n in names} <= pngs


@pytest.mark.slow
def test_the_report_reruns_when_the_water_layer_changes(run):
    demo, _ = run
    files = _files(demo)
    inputs = {str(p) for p in evaluation._inputs(_context(demo / "config.toml"))}
    assert {str(p) for p in files.paths()} <= inputs
    assert {"summary.json", "score.json", "water.tif", "bodies.parquet", "change.csv"} <= {p.split("/")[-1] for p in inputs}
    again = run_pipeline(demo / "config.toml")
    assert again["stages"]["evaluation"]["status"] == "skipped (up to date)"
    change = next(iter(files.changes.values())) / "change.csv"
    written = change.read_bytes()
    table = pd.read_csv(change)
    table.loc[0, "area_b_km2"] += 1.0  # a changed water layer
    table.loc[0, "change_km2"] += 1.0
    table.to_csv(change, index=False)
    # edited in place, the water stage's output is rewritten by it (irrmap.app.output_digests), and the report,
    # whose input is then as before, is not
    restored = run_pipeline(demo / "config.toml")
    assert restored["stages"]["water"]["reason"].startswith("outputs changed since written:") and change.read_bytes() == written
    assert restored["stages"]["evaluation"]["status"] == "skipped (up to date)"
    # a water layer that differs with its stage up to date (a state without output digests, as an older irrmap
    # wrote it): the report reruns on it
    table.to_csv(change, index=False)
    state_file = demo / "output" / ".irrmap-state.json"
    state = json.loads(state_file.read_text())
    state["water"].pop("digests")
    state_file.write_text(json.dumps(state))
    third = run_pipeline(demo / "config.toml")
    assert third["stages"]["water"]["status"] == "skipped (up to date)"
    assert third["stages"]["evaluation"]["status"] == "ran"
    got = json.loads((demo / "output" / "evaluation" / "results.json").read_text())["water"]["change"]
    assert sum(r["area_b_km2"] for r in next(iter(got.values()))["size_classes"]) == pytest.approx(table["area_b_km2"].sum(), rel=1e-12)


@pytest.mark.slow
def test_no_water_section_without_water(run, tmp_path):
    demo, _ = run
    text = (demo / "config.toml").read_text()
    start, end = text.index("[water]"), text.index("[evaluation]")
    (demo / "nowater.toml").write_text(text[:start] + text[end:])
    manifest = run_pipeline(demo / "nowater.toml")
    assert "water" not in manifest["stages"]
    assert manifest["stages"]["evaluation"]["status"] == "ran"  # its inputs lost the water files
    out = demo / "output" / "evaluation"
    assert "Water bodies" not in (out / "report.md").read_text() and "Water bodies" not in (out / "report.html").read_text()
    assert "water" not in json.loads((out / "results.json").read_text())
    assert "figures/water_" not in (out / "report.md").read_text()
    assert {str(p) for p in _files(demo).paths()}.isdisjoint(str(p) for p in evaluation._inputs(_context(demo / "nowater.toml")))


# ---- pieces, on small files ---------------------------------------------------------------------------------------
def test_class_quicklook_above_the_limit_is_the_hand_majority():
    rng = np.random.default_rng(5)
    a = rng.choice(np.array([0, 1, 255], np.uint8), size=(1901, 950), p=[0.5, 0.3, 0.2])
    a[:60, :60] = 1  # a block all water
    a[60:64, :] = 7  # a code of no listed class: counts in no share
    arr = xr.DataArray(da.from_array(a, chunks=512), dims=("y", "x"), attrs={"nodata": 255},
                       coords={"y": np.arange(1901)[::-1] * 30.0, "x": np.arange(950) * 30.0})
    values = [1, 0, 255]
    shares = class_shares(arr, values, max_pixels=900)
    f = math.ceil(1901 / 900)
    assert shares.shape == (3, math.ceil(1901 / f), math.ceil(950 / f))
    for i in (0, 1, 17, 300, shares.shape[1] - 1):
        for j in (0, 5, shares.shape[2] - 1):
            block = a[i * f:(i + 1) * f, j * f:(j + 1) * f]
            np.testing.assert_allclose(shares[:, i, j], [(block == v).mean() for v in values], rtol=1e-12)
    assert shares[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    png = class_quicklook_png(arr, [(1, "water", "#1565c0"), (0, "not water", "#f3efe0"), (255, "unknown", "#8e8e8e")], title="large")
    _valid_png(png)


def test_class_quicklook_of_a_float_map_with_nan_is_no_data_there():
    a = np.full((40, 50), np.nan)
    a[:, 25:] = 1.0
    arr = xr.DataArray(a, dims=("y", "x"), coords={"y": np.arange(40)[::-1] * 1.0, "x": np.arange(50) * 1.0})
    shares = class_shares(arr, [1.0, 0.0])
    assert (shares[:, :, :25] == 0).all() and (shares[0, :, 25:] == 1).all()
    _valid_png(class_quicklook_png(arr, [(1.0, "water", "#1565c0"), (0.0, "not water", "#f3efe0")], title="half"))


def test_unknown_size_class_and_missing_files_are_one_line_errors(tmp_path):
    pd.DataFrame({"area_m2": [5e3], "size_class": ["tiny"], "unknown_m2": [0.0]}).to_parquet(tmp_path / "bodies.parquet")
    with pytest.raises(DataError, match="tiny"):
        size_class_table(tmp_path / "bodies.parquet")
    files = WaterFiles(epochs={"2020": tmp_path}, changes={}, summary=tmp_path / "summary.json")
    with pytest.raises(InputError) as err:
        water_section(Report("x"), files)
    assert str(tmp_path / "summary.json") in str(err.value)
