"""Design weights within strata (Hajek estimator), stratum-size checks: against hand computations with numpy."""

import numpy as np
import pandas as pd
import pytest
from irrmap.evaluation.area_estimation import stehman
from irrmap.evaluation.design import SampleDesign, design_accuracy

from irrmap.core.errors import DataError

# one stratum, unequal inclusion probabilities
MAP = np.array([1, 1, 0, 0, 1, 0, 0, 1, 0, 0])
REF = np.array([1, 0, 0, 1, 1, 0, 0, 0, 1, 0])
PI = np.array([0.1, 0.5, 0.2, 0.05, 0.5, 0.25, 0.1, 0.4, 0.08, 0.5])


def _hajek(y, x, w):
    """Hajek ratio sum w y / sum w x and its linearised SE (with-replacement form, n/(n-1))."""
    n = len(y)
    R = np.sum(w * y) / np.sum(w * x)
    z = w * (y - R * x) / np.sum(w * x)
    return R, np.sqrt(n / (n - 1) * np.sum((z - z.mean()) ** 2))


def _samples(stratum="all"):
    return pd.DataFrame({"map": MAP, "reference": REF, "design": stratum, "inclusion_prob": PI})


def test_one_stratum_unequal_pi_is_hajek():
    w = 1 / PI
    c = (MAP == REF).astype(float)
    d = design_accuracy(_samples(), SampleDesign("design", "inclusion_prob"))
    est = d.estimate
    oa, oa_se = _hajek(c, np.ones(10), w)
    assert est.overall_accuracy == pytest.approx(oa, rel=1e-12)
    assert est.overall_accuracy != pytest.approx(c.mean())  # the unweighted mean differs
    assert est.overall_accuracy_se == pytest.approx(oa_se, rel=1e-10)
    for k in (0, 1):
        ua, ua_se = _hajek(c * (MAP == k), (MAP == k).astype(float), w)
        pa, pa_se = _hajek(c * (REF == k), (REF == k).astype(float), w)
        p, p_se = _hajek((REF == k).astype(float), np.ones(10), w)
        assert est.users_accuracy[k] == pytest.approx(ua, rel=1e-12)
        assert est.users_accuracy_se[k] == pytest.approx(ua_se, rel=1e-10)
        assert est.producers_accuracy[k] == pytest.approx(pa, rel=1e-12)
        assert est.producers_accuracy_se[k] == pytest.approx(pa_se, rel=1e-10)
        assert est.area_proportion[k] == pytest.approx(p, rel=1e-12)
        assert est.area_proportion_se[k] == pytest.approx(p_se, rel=1e-10)
    P = np.array([[np.sum(w * ((MAP == a) & (REF == b))) for b in (0, 1)] for a in (0, 1)]) / w.sum()
    pe = P.sum(1) @ P.sum(0)
    assert est.kappa == pytest.approx((np.trace(P) - pe) / (1 - pe), rel=1e-12)
    assert est.total == pytest.approx(w.sum())
    row = d.strata.iloc[0]
    assert row["overall_accuracy"] == pytest.approx(oa, rel=1e-12)
    assert row["share_reference_irrigated"] == pytest.approx(np.sum(w * (REF == 1)) / w.sum(), rel=1e-12)


def test_two_strata_weights_within_each():
    w = 1 / PI
    h = np.array(["a"] * 5 + ["b"] * 5)
    c = (MAP == REF).astype(float)
    N = {"a": 40.0, "b": 100.0}
    est = stehman(h, MAP, REF, N, classes=[0, 1], weights=w)
    # hand: OA = sum_h N_h Hajek_h / N; var = sum_h N_h^2 var_h / N^2
    tot, var = 0.0, 0.0
    for s in ("a", "b"):
        i = h == s
        r, se = _hajek(c[i], np.ones(5), w[i])
        tot += N[s] * r
        var += N[s] ** 2 * se**2
    assert est.overall_accuracy == pytest.approx(tot / 140, rel=1e-12)
    assert est.overall_accuracy_se == pytest.approx(np.sqrt(var) / 140, rel=1e-10)
    # equal weights give the plain stratified estimator
    eq = stehman(h, MAP, REF, N, classes=[0, 1], weights=np.full(10, 3.0))
    plain = stehman(h, MAP, REF, N, classes=[0, 1])
    assert eq.overall_accuracy == pytest.approx(plain.overall_accuracy)
    assert eq.overall_accuracy_se == pytest.approx(plain.overall_accuracy_se)
    assert eq.users_accuracy_se[1] == pytest.approx(plain.users_accuracy_se[1])
    assert plain.overall_accuracy == pytest.approx((40 * c[:5].mean() + 100 * c[5:].mean()) / 140)


def test_stratum_size_below_sample_refused():
    s = _samples(np.array(["arid"] * 6 + ["humid"] * 4))
    with pytest.raises(DataError, match="arid = 3 with n = 6"):
        design_accuracy(s, SampleDesign("design", stratum_sizes={"arid": 3, "humid": 50}))


def test_stratum_size_name_matching_no_stratum():
    s = _samples(np.array(["arid"] * 6 + ["humid"] * 4))
    with pytest.raises(DataError, match="'aird' matched no stratum"):
        design_accuracy(s, SampleDesign("design", stratum_sizes={"aird": 68, "arid": 68, "humid": 50}))


def test_typo_field_lists_only_point_fields():
    with pytest.raises(DataError) as e:
        design_accuracy(_samples(), SampleDesign("desing", "inclusion_prob"))
    assert "inclusion_prob" in e.value.fix and "reference" not in e.value.fix and "map" not in e.value.fix.split(": ")[1].split(", ")


def test_sizes_and_inclusion_not_both():
    with pytest.raises(DataError, match="not both"):
        design_accuracy(_samples(), SampleDesign("design", "inclusion_prob", {"all": 100}))


def test_fpc_refuses_stratum_smaller_than_its_sample():
    h = np.array(["a"] * 5 + ["b"] * 5)
    with pytest.raises(DataError, match=r"a \(size 4, 5 units\)"):
        stehman(h, MAP, REF, {"a": 4.0, "b": 100.0}, classes=[0, 1], fpc=True)
    # without fpc sizes may be areas (any positive number)
    est = stehman(h, MAP, REF, {"a": 4.0, "b": 100.0}, classes=[0, 1])
    c = (MAP == REF).astype(float)
    assert est.overall_accuracy == pytest.approx((4 * c[:5].mean() + 100 * c[5:].mean()) / 104)
