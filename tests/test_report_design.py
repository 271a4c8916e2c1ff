"""Design-based accuracy (evaluation.design, area_estimation's linearised kappa) against independent truth.

- The demo's reference points are a Poisson sample of crop pixels per climate stratum with a known inclusion
  probability pi (irrmap.app.demo.points). On a map made here from the demo's precipitation (independent of
  irrmap's code), the design-weighted OA must equal the Horvitz-Thompson/Hajek estimate
  sum_k c_k / pi_k / sum_k 1 / pi_k computed with rasterio + pandas, and its SE the stratified-sampling variance
  of Cochran (1977, eq. 5.6 without fpc) with W_h = N_h / N; with the true stratum sizes (column stratum_size)
  the estimate is Cochran's stratified mean sum_h N_h ybar_h / N.
- Olofsson et al. (2014) section 5 (strata = map classes; counts [[66,0,5,4],[0,55,8,12],[1,0,153,11],[2,1,9,313]],
  mapped pixels 200,000 / 150,000 / 3,200,000 / 6,450,000): published OA 0.95, 0.9465 with SE 0.0094
  (95 % CI +/- 0.02), user's accuracy of deforestation 0.88 +/- 0.07.
- Kappa: with a single stratum the design-based kappa is Cohen's kappa (Congalton 1991 Table 1: KHAT 0.6535) and
  its linearised variance the delta-method variance of Bishop, Fienberg & Holland (1975; written out in
  Congalton & Green 2009) times n / (n - 1); under stratified sampling the SE matches the spread of kappa over
  repeated stratified samples of a known population.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from irrmap.core.errors import DataError
from irrmap.evaluation.area_estimation import stehman
from irrmap.evaluation.design import SampleDesign, design_accuracy
from irrmap.evaluation.workflow import points_accuracy


# ---- the demo's points -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from irrmap import generate_demo

    out = tmp_path_factory.mktemp("design") / "demo"
    generate_demo(out, rows=96, cols=128)
    # a map correlated with the strata (wet pixels mapped irrigated), so weighting matters
    with rasterio.open(out / "inputs" / "climate" / "precipitation.tif") as src:
        p = src.read(1).astype(float)
        profile = src.profile | {"dtype": "uint8", "nodata": 255, "count": 1}
    with rasterio.open(out / "map.tif", "w", **profile) as dst:
        dst.write((p > np.nanpercentile(p, 40)).astype("uint8"), 1)
    return out


def _independent(demo) -> pd.DataFrame:
    """Points with map value sampled by rasterio and correct = (map == label), no irrmap code involved."""
    pts = gpd.read_file(demo / "inputs" / "reference" / "points.gpkg")
    with rasterio.open(demo / "map.tif") as src:
        vals = np.array([v[0] for v in src.sample(list(zip(pts.geometry.x, pts.geometry.y)))])
    return pts.assign(map_value=vals, correct=(vals == pts["label"].to_numpy()).astype(float))


def test_design_weighted_oa_on_demo_points_is_the_horvitz_thompson_estimate(demo):
    pts = _independent(demo)
    w = 1.0 / pts["inclusion_prob"]
    hajek = float((w * pts["correct"]).sum() / w.sum())
    # Cochran 5.6 with N_h = sum of 1/pi in the stratum
    g = pts.assign(w=w).groupby("stratum").agg(N=("w", "sum"), n=("correct", "size"), mean=("correct", "mean"), s2=("correct", "var"))
    W = g["N"] / g["N"].sum()
    se = math.sqrt(float((W**2 * g["s2"] / g["n"]).sum()))

    r = points_accuracy(demo / "map.tif", demo / "inputs" / "reference" / "points.gpkg", "label", threshold=0.5,
                        design=SampleDesign("stratum", inclusion_field="inclusion_prob"))
    est = r.design.estimate
    assert r.accuracy.n == len(pts)  # every demo point is on the map
    assert est.overall_accuracy == pytest.approx(hajek, abs=1e-12)
    assert est.overall_accuracy_se == pytest.approx(se, rel=1e-9)
    assert r.accuracy.overall_accuracy == pytest.approx(pts["correct"].mean(), abs=1e-12)
    assert abs(est.overall_accuracy - r.accuracy.overall_accuracy) > 0.01  # the design matters on this map
    # per-stratum table: sizes and point counts as computed here
    per = r.design.strata.set_index("stratum")
    np.testing.assert_allclose(per.loc[g.index, "size_pixels"], g["N"], rtol=1e-12)
    np.testing.assert_array_equal(per.loc[g.index, "n"], g["n"])


def test_given_stratum_sizes_give_cochrans_stratified_mean(demo):
    pts = _independent(demo)
    sizes = pts.groupby("stratum")["stratum_size"].first()  # the demo's true crop-pixel counts per stratum
    means = pts.groupby("stratum")["correct"].mean()
    expected = float((sizes * means).sum() / sizes.sum())
    r = points_accuracy(demo / "map.tif", demo / "inputs" / "reference" / "points.gpkg", "label", threshold=0.5,
                        design=SampleDesign("stratum", stratum_sizes=sizes.to_dict()))
    assert r.design.estimate.overall_accuracy == pytest.approx(expected, abs=1e-12)
    assert "--stratum-size" in r.command and "--stratum-field stratum" in r.command


def test_missing_design_field_and_bad_probabilities_are_data_errors(demo):
    pts = _independent(demo).assign(map=lambda d: d["map_value"], reference=lambda d: d["label"])
    with pytest.raises(DataError, match="'weight' not found"):
        design_accuracy(pts, SampleDesign("stratum", inclusion_field="weight"))
    with pytest.raises(DataError, match=r"not in \(0, 1\]"):
        design_accuracy(pts.assign(inclusion_prob=0.0), SampleDesign("stratum", inclusion_field="inclusion_prob"))


# ---- Olofsson et al. 2014, section 5 -------------------------------------------------------------------------
def test_olofsson_worked_example_through_the_points_design():
    counts = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
    pixels = [200_000, 150_000, 3_200_000, 6_450_000]
    rows = [(i, j) for i in range(4) for j in range(4) for _ in range(counts[i][j])]
    s = pd.DataFrame(rows, columns=["map", "reference"]).assign(stratum=lambda d: d["map"].astype(str))
    d = design_accuracy(s, SampleDesign("stratum", stratum_sizes={str(i): n for i, n in enumerate(pixels)}), classes=[0, 1, 2, 3])
    assert d.estimate.overall_accuracy == pytest.approx(0.9465, abs=5e-5)
    assert d.estimate.overall_accuracy_se == pytest.approx(0.0094, abs=5e-5)
    assert d.estimate.users_accuracy[0] == pytest.approx(0.88, abs=0.005)
    assert 1.96 * d.estimate.users_accuracy_se[0] == pytest.approx(0.07, abs=0.005)


# ---- kappa ---------------------------------------------------------------------------------------------------
CONGALTON = np.array([[65, 4, 22, 24], [6, 81, 5, 8], [0, 11, 85, 19], [4, 7, 3, 90]])


def _bfh_variance(x) -> float:
    """Bishop, Fienberg & Holland (1975) delta-method variance of kappa, as written in Congalton & Green (2009)."""
    x = np.asarray(x, float)
    n = x.sum()
    p = x / n
    r, c = p.sum(1), p.sum(0)
    t1, t2 = np.trace(p), float(r @ c)
    t3 = float(sum(p[i, i] * (r[i] + c[i]) for i in range(len(p))))
    t4 = float(sum(p[i, j] * (r[j] + c[i]) ** 2 for i in range(len(p)) for j in range(len(p))))
    return (t1 * (1 - t1) / (1 - t2) ** 2 + 2 * (1 - t1) * (2 * t1 * t2 - t3) / (1 - t2) ** 3
            + (1 - t1) ** 2 * (t4 - 4 * t2**2) / (1 - t2) ** 4) / n


def test_single_stratum_kappa_is_cohens_with_the_bfh_variance():
    m, r = zip(*[(i, j) for i in range(4) for j in range(4) for _ in range(CONGALTON[i, j])])
    est = stehman(["all"] * len(m), m, r, {"all": 1e6}, classes=[0, 1, 2, 3])
    n = CONGALTON.sum()
    assert est.kappa == pytest.approx(0.6535, abs=5e-5)
    assert est.kappa_se**2 == pytest.approx(_bfh_variance(CONGALTON) * n / (n - 1), rel=1e-9)
    assert est.to_dict()["kappa"] == pytest.approx(est.kappa)


def test_stratified_kappa_se_matches_repeated_sampling():
    rng = np.random.default_rng(7)
    # population of two strata with different accuracy and class mix; sample 60 + 40 units per replicate
    N = {"a": 20_000, "b": 5_000}
    pop = {}
    for h, (p_ref, acc) in {"a": (0.3, 0.9), "b": (0.7, 0.6)}.items():
        ref = (rng.random(N[h]) < p_ref).astype(int)
        pop[h] = (np.where(rng.random(N[h]) < acc, ref, 1 - ref), ref)
    n = {"a": 60, "b": 40}
    kappas, ses = [], []
    for _ in range(1500):
        s, m, r = [], [], []
        for h in N:
            idx = rng.choice(N[h], n[h], replace=False)
            s += [h] * n[h]
            m += pop[h][0][idx].tolist()
            r += pop[h][1][idx].tolist()
        est = stehman(s, m, r, N, classes=[0, 1])
        kappas.append(est.kappa)
        ses.append(est.kappa_se)
    assert np.mean(ses) == pytest.approx(np.std(kappas), rel=0.08)


# ---- configuration ---------------------------------------------------------------------------------------------
def test_run_check_names_a_missing_stratum_field(demo, capsys):
    from irrmap.app.cli import main

    cfg = demo / "config.toml"
    text = cfg.read_text()
    assert 'stratum_field = "stratum"' in text  # the demo declares its design
    bad = demo / "bad.toml"
    bad.write_text(text.replace('stratum_field = "stratum"', 'stratum_field = "zone_of_sampling"'))
    assert main(["-q", "run", "--check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "[evaluation].stratum_field" in err and "'zone_of_sampling' not found" in err


def test_design_keys_go_together():
    from pydantic import ValidationError

    from irrmap.core.config import EvaluationSection

    with pytest.raises(ValidationError, match="stratum_field needs inclusion_field or stratum_sizes"):
        EvaluationSection(stratum_field="stratum")
    with pytest.raises(ValidationError, match="need stratum_field"):
        EvaluationSection(inclusion_field="p")
    assert EvaluationSection(stratum_field="s", stratum_sizes={"a": 10.0}).stratum_sizes == {"a": 10.0}
