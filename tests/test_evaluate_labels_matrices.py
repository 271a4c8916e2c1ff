"""`irrmap evaluate area / points`: labels and matrices read as the user meant them (probe H findings 1-5).

Truth: the Stehman (2014) stratified estimators written out by hand in numpy (stratum means of labelled units
weighted by N_h / N; variance sum_h N_h^2 s_h^2 / n_h / N^2), accuracies counted by hand on a 0/1 map, and
GDAL's own gdallocationinfo for the pixel of points on pixel edges.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from irrmap.app.cli import main
from irrmap.core.errors import DataError
from irrmap.evaluation.area_estimation import olofsson, stehman
from irrmap.evaluation.points import binary_labels, grid_cells
from irrmap.evaluation.workflow import area_from_samples

N_H = {"A": 40_000, "B": 30_000, "C": 20_000, "D": 10_000}


def _sample() -> pd.DataFrame:
    """A fixed stratified sample (strata A-D are not the map classes), 0/1 map and reference labels."""
    rng = np.random.default_rng(7)
    rows = []
    for h, n, p in zip(N_H, (25, 20, 15, 12), (0.1, 0.3, 0.6, 0.9)):
        for _ in range(n):
            m = int(rng.random() < p)
            rows.append((h, m, m if rng.random() < 0.8 else 1 - m))
    return pd.DataFrame(rows, columns=["stratum", "map", "reference"])


def _by_hand(df: pd.DataFrame) -> dict:
    """Stehman (2014) eqs. 2-3 for OA and the reference-class area of 1: sum_h N_h ybar_h / N and its SE."""
    N = sum(N_H.values())
    out = {}
    for name, y in (("oa", (df["map"] == df["reference"]).astype(float)), ("p1", (df["reference"] == 1).astype(float))):
        est = var = 0.0
        for h, Nh in N_H.items():
            yh = y[df["stratum"] == h].to_numpy()
            est += Nh * yh.mean() / N
            var += Nh**2 * yh.var(ddof=1) / len(yh) / N**2
        out[name], out[name + "_se"] = est, var**0.5
    return out


def _write(tmp_path, df, name="s.csv"):
    df.to_csv(tmp_path / name, index=False)
    pd.DataFrame({"stratum": list(N_H), "size": list(N_H.values())}).to_csv(tmp_path / "strata.csv", index=False)
    return tmp_path / name, tmp_path / "strata.csv"


@pytest.mark.parametrize("missing", ["", "NA", "nan", "N/A", " null "])
def test_unlabelled_sample_units_are_left_out_with_a_warning(tmp_path, caplog, capsys, missing):
    """Blank / NA reference cells (before: a class '' or 'NA', 3 classes and a wrong OA) are left out."""
    df = _sample()
    truth = _by_hand(df.iloc[5:].reset_index(drop=True).assign(reference=lambda d: d["reference"].astype(int)))
    t = df.astype({"reference": object})
    t.loc[:4, "reference"] = missing
    samples, strata = _write(tmp_path, t)
    with caplog.at_level(logging.WARNING):
        est, _ = area_from_samples(samples, strata)
    assert est.classes == ["0", "1"]
    assert est.n == len(df) - 5
    assert est.overall_accuracy == pytest.approx(truth["oa"], rel=1e-12)
    assert est.overall_accuracy_se == pytest.approx(truth["oa_se"], rel=1e-12)
    assert est.area["1"] == pytest.approx(truth["p1"] * sum(N_H.values()), rel=1e-12)
    assert est.area_proportion_se["1"] == pytest.approx(truth["p1_se"], rel=1e-12)
    assert re.search(r"5 of 72 sample units have no reference label", caplog.text)
    assert main(["evaluate", "area", "--samples", str(samples), "--strata", str(strata), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["classes"] == ["0", "1"] and out["overall_accuracy"] == pytest.approx(truth["oa"], rel=1e-12)


def test_words_mixed_with_codes_are_refused(tmp_path, capsys):
    """'yes' among 0/1 (before: a third class 'yes'; evaluate points reads it as 1) is refused with the recoding."""
    t = _sample().astype({"reference": object})
    t.loc[:4, "reference"] = "yes"
    samples, strata = _write(tmp_path, t)
    with pytest.raises(DataError, match=r"mixes codes \['0', '1'\] with the words \['yes'\]"):
        area_from_samples(samples, strata)
    assert main(["evaluate", "area", "--samples", str(samples), "--strata", str(strata)]) == 2
    err = capsys.readouterr().err
    assert "'yes' -> 1" in err and "s.csv" in err and "Traceback" not in err
    with pytest.raises(DataError, match="mixes codes"):
        stehman(["A", "A", "B", "B"], ["0", "1", "no", "1"], ["0", "1", "0", "1"], {"A": 1, "B": 1})
    # multi-class word labels are no mixed coding
    est = stehman(["A", "A", "B", "B"], ["forest", "crop", "crop", "forest"], ["forest", "crop", "forest", "forest"], {"A": 1, "B": 1})
    assert est.overall_accuracy == pytest.approx(0.75)


def test_matrix_of_proportions_is_refused(tmp_path, capsys):
    """Cells 0.30/0.05/0.03/0.62 (before: n = 1, SE 0, CI [3300, 3300]): Olofsson's variances need counts."""
    (tmp_path / "m.csv").write_text("map,1,2\n1,0.30,0.05\n2,0.03,0.62\n")
    (tmp_path / "mapped.csv").write_text("class,size\n1,3500\n2,6500\n")
    assert main(["evaluate", "area", "--matrix", str(tmp_path / "m.csv"), "--mapped", str(tmp_path / "mapped.csv")]) == 2
    err = capsys.readouterr().err
    assert "whole numbers" in err and "proportions" in err and "m.csv" in err and "Traceback" not in err
    with pytest.raises(DataError, match="not whole numbers|are not"):
        olofsson([[30.5, 5], [3, 62]], [3500, 6500])
    # counts pass; OA by hand (Olofsson 2014 eq. 1 with W = 0.35 / 0.65): sum_i W_i n_ii / n_i+
    est = olofsson([[30, 5], [3, 62]], [3500, 6500])
    assert est.overall_accuracy == pytest.approx(0.35 * 30 / 35 + 0.65 * 62 / 65, rel=1e-12)
    assert est.n == 100


def test_positive_or_label_map_key_matching_no_label_is_refused():
    labels = np.array(["Y", "N", "Y", "N", "N"], dtype=object)
    with pytest.raises(DataError, match=r"--positive value \['yes'\] matches no label.*'n' \(3\), 'y' \(2\)"):
        binary_labels(labels, positive=["yes"])
    assert binary_labels(labels, positive=["Y"]).tolist() == [1, 0, 1, 0, 0]
    with pytest.raises(DataError, match=r"--label-map key \['irrigated'\] matches no label"):
        binary_labels(labels, label_map={"irrigated": 1, "y": 1, "n": 0})
    assert binary_labels(labels, label_map={"y": 1, "n": 0}).tolist() == [1, 0, 1, 0, 0]


def test_points_accuracy_with_yes_no_labels(tmp_path, capsys):
    """`evaluate points --positive yes` on Y/N labels (before: OA 0.57, every reference 'not irrigated')."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(3)
    a = (rng.random((10, 12)) < 0.4).astype("uint8")
    with rasterio.open(tmp_path / "map.tif", "w", driver="GTiff", height=10, width=12, count=1, dtype="uint8", crs="EPSG:32614",
                       transform=from_origin(500000, 4500000, 250, 250), nodata=255) as d:
        d.write(a, 1)
    r, c = np.divmod(rng.permutation(120)[:60], 12)
    m = a[r, c]
    ref = np.where(rng.random(60) < 0.8, m, 1 - m)
    pd.DataFrame({"x": 500000 + (c + 0.5) * 250, "y": 4500000 - (r + 0.5) * 250, "ref": np.where(ref == 1, "Y", "N")}).to_csv(
        tmp_path / "p.csv", index=False)
    args = ["evaluate", "points", str(tmp_path / "map.tif"), str(tmp_path / "p.csv"), "--label-field", "ref", "--points-crs", "EPSG:32614"]
    assert main([*args, "--positive", "yes"]) == 2
    assert "matches no label" in capsys.readouterr().err
    assert main([*args, "--positive", "Y", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    oa = out.get("overall_accuracy", (out.get("accuracy") or {}).get("overall_accuracy"))
    assert oa == pytest.approx(float((m == ref).mean()), rel=1e-12)


@pytest.mark.parametrize(("words", "meaning"), [
    (["Irrigated", "Non irrigated"], [1, 0]),
    (["Irrigated", "Rainfed crop"], [1, 0]),
    (["Unirrigated", "Irrigated", "Unknown"], [0, 1, -1]),
    (["Dry land", "Wet"], [0, 1]),
])
def test_label_map_hint_follows_what_labels_mean(words, meaning):
    """The suggested --label-map (before: '--label-map irrigated=0 --label-map non irrigated=1', inverted and
    unquoted) read by a shell and applied gives each label its meaning."""
    with pytest.raises(DataError) as exc:
        binary_labels(np.array(words, dtype=object))
    fix = exc.value.fix
    flags = shlex.split(fix[fix.index("e.g. ") + 5:fix.index(" (config")])
    label_map = dict(v.rsplit("=", 1) for v in flags[1::2])
    assert binary_labels(np.array(words, dtype=object), label_map={k: int(v) for k, v in label_map.items()}).tolist() == meaning


TREECOVER = Path("/work/shared/data/treecover/Hansen_GFC-2023-v1.11_treecover2000_20N_080W.tif")


@pytest.mark.skipif(not TREECOVER.exists() or shutil.which("gdallocationinfo") is None, reason="Hansen tile or GDAL tools missing")
def test_points_on_pixel_edges_read_gdals_pixel():
    """A 0.0005-degree lattice on a 0.00025-degree grid puts every point on pixel edges (before: 570 of 10,450
    points a row or column short of gdallocationinfo's, e.g. lat 18.6335 -> row 213 against 214)."""
    from irrmap.core.grid import Grid

    grid = Grid.from_raster(TREECOVER)
    lon, lat = np.meshgrid(np.round(np.arange(-71.7375, -71.6900, 0.0005), 4), np.round(np.arange(18.6320, 18.6870, 0.0005), 4))
    lon, lat = lon.ravel(), lat.ravel()
    text = "".join(f"{float(x)!r} {float(y)!r}\n" for x, y in zip(lon, lat))
    out = subprocess.run(["gdallocationinfo", "-geoloc", str(TREECOVER)], input=text, capture_output=True, text=True, check=False).stdout
    gdal = np.array([[int(p), int(q)] for p, q in re.findall(r"Location: \((-?\d+)P,(-?\d+)L\)", out)])
    assert len(gdal) == len(lon)
    row, col, inside = grid_cells(lon, lat, "EPSG:4326", grid)
    ok = (gdal[:, 0] >= 0) & (gdal[:, 0] < grid.width) & (gdal[:, 1] >= 0) & (gdal[:, 1] < grid.height)
    assert (inside == ok).all()
    assert (row[ok] == gdal[ok, 1]).all() and (col[ok] == gdal[ok, 0]).all()
    r, _, _ = grid_cells([-71.7], [18.6335], None, grid)
    assert r[0] == 214
