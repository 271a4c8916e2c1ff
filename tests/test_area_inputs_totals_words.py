"""`irrmap evaluate area` inputs: tables copied with their totals, and binary irrigation words.

Truth: the published figures of Olofsson et al. (2014, Remote Sens. Environ. 148:42-57, section 5 / Table 8:
OA 0.9465 (SE 0.0094), deforestation 21,158 ha (SE 3,142 ha) with 0.09 ha per pixel), and for stratified
samples the stratified estimators written out by hand with sklearn's accuracy_score per stratum on the 0/1
recoding: OA = sum_h W_h acc_h, area of class 1 = sum_h N_h mean_h(ref == 1).
"""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from irrmap.core.errors import DataError, InputError
from irrmap.evaluation.points import binary_labels
from irrmap.evaluation.workflow import area_from_matrix, area_from_samples

CLASSES = ["deforestation", "gain", "stable_forest", "stable_nonforest"]
COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
SIZES = [200000, 150000, 3200000, 6450000]  # pixels (Olofsson et al. 2014 Table 8)
HA = 0.09


def _matrix(path, row_total: str | None = "total", col_total: str | None = "total", corner=None, bump_row=0):
    n = np.array(COUNTS)
    head = ["map", *CLASSES] + ([col_total] if col_total else [])
    lines = [",".join(head)]
    for c, row in zip(CLASSES, n):
        lines.append(",".join([c, *map(str, row)] + ([str(row.sum())] if col_total else [])))
    if row_total:
        tot = n.sum(axis=0).tolist()
        tot[0] += bump_row
        lines.append(",".join([row_total, *map(str, tot)] + ([str(n.sum() if corner is None else corner)] if col_total else [])))
    path.write_text("\n".join(lines) + "\n")
    return path


def _mapped(path, total: str | None = "total", value=None):
    lines = ["class,size", *(f"{c},{s}" for c, s in zip(CLASSES, SIZES))]
    if total:
        lines.append(f"{total},{sum(SIZES) if value is None else value}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _check_published(est):
    assert est.n == 640
    assert est.overall_accuracy == pytest.approx(0.9465, abs=5e-5)
    assert est.overall_accuracy_se == pytest.approx(0.0094, abs=5e-5)
    assert est.classes == CLASSES
    assert est.area["deforestation"] * HA == pytest.approx(21158, abs=1)
    assert est.area_se["deforestation"] * HA == pytest.approx(3142, abs=1)


@pytest.mark.parametrize("rows,cols,mapped", [
    ("total", "total", "total"),  # Table 8 copied with both margins, and the mapped sizes with their total
    ("total", None, None),        # row margin only
    (None, "total", None),        # column margin only
    (None, None, "Total"),        # mapped sizes with a total only
    ("Grand Total", "Σ", "SUM"),  # other spellings of a margin
    ("All", "Totals", "all"),
])
def test_table8_with_totals_gives_published_estimates(tmp_path, rows, cols, mapped, caplog):
    caplog.set_level(logging.INFO)
    est, _ = area_from_matrix(_matrix(tmp_path / "m.csv", rows, cols), _mapped(tmp_path / "n.csv", mapped))
    _check_published(est)
    assert "left out" in caplog.text  # the INFO line saying a total was dropped


def test_unlabelled_margin_on_one_axis_is_recognised_by_its_sums(tmp_path):
    est, _ = area_from_matrix(_matrix(tmp_path / "m.csv", "n_j", "n_i"), _mapped(tmp_path / "n.csv", None))
    _check_published(est)


def test_total_row_that_is_not_the_sum_is_refused(tmp_path):
    m = _matrix(tmp_path / "m.csv", bump_row=1)
    with pytest.raises(InputError) as e:
        area_from_matrix(m, _mapped(tmp_path / "n.csv"))
    msg = str(e.value)
    assert "m.csv" in msg and "'total'" in msg and "delete" in msg


def test_total_column_that_is_not_the_sum_is_refused(tmp_path):
    m = _matrix(tmp_path / "m.csv", row_total=None)
    lines = m.read_text().splitlines()
    cells = lines[1].split(",")
    cells[-1] = str(int(cells[-1]) + 3)  # the first map class's row total 3 too high (75 -> 78)
    lines[1] = ",".join(cells)
    m.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        area_from_matrix(m, _mapped(tmp_path / "n.csv"))
    msg = str(e.value)
    assert "column 'total'" in msg and "78" in msg and "row sums" in msg and "m.csv" in msg


def test_total_corner_that_is_not_the_grand_total_is_refused(tmp_path):
    with pytest.raises(InputError, match="corner"):
        area_from_matrix(_matrix(tmp_path / "m.csv", corner=641), _mapped(tmp_path / "n.csv"))


def test_mapped_total_that_is_not_the_sum_is_refused(tmp_path):
    with pytest.raises(InputError) as e:
        area_from_matrix(_matrix(tmp_path / "m.csv", None, None), _mapped(tmp_path / "n.csv", "Total", 9_000_000))
    msg = str(e.value)
    assert "n.csv" in msg and "'Total'" in msg and "delete" in msg


def test_cli_totals_error_exits_2(tmp_path):
    m = _matrix(tmp_path / "m.csv", bump_row=1)
    r = subprocess.run([sys.executable, "-c", "import sys; from irrmap.app.cli import main; sys.exit(main())", "-q", "evaluate", "area",
                        "--matrix", str(m), "--mapped", str(_mapped(tmp_path / "n.csv"))], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "total" in r.stderr and "m.csv" in r.stderr


# ---- stratified samples: binary words and strata totals -------------------------------------------------------
# stratum -> (size N_h, [(map 0/1, reference 0/1, count)])
STRATA = {"s1": (730172, [(0, 0, 53), (0, 1, 7)]), "s2": (312772, [(1, 1, 9), (1, 0, 43)])}


def _truth():
    N = sum(n for n, _ in STRATA.values())
    oa = area1 = 0.0
    for n_h, cells in STRATA.values():
        m = [a for a, b, k in cells for _ in range(k)]
        r = [b for a, b, k in cells for _ in range(k)]
        oa += n_h / N * accuracy_score(r, m)
        area1 += n_h * np.mean(np.array(r) == 1)
    return oa, area1


def _samples(tmp_path, words_map, words_ref, stratum_names=None, strata_rows=None, total=None):
    names = stratum_names or {"s1": "s1", "s2": "s2"}
    rows = ["stratum,map,reference"]
    for h, (_, cells) in STRATA.items():
        rows += [f"{names[h]},{words_map[a]},{words_ref[b]}" for a, b, k in cells for _ in range(k)]
    s = tmp_path / "s.csv"
    s.write_text("\n".join(rows) + "\n")
    st = tmp_path / "st.csv"
    keys = strata_rows or names
    st.write_text("stratum,size\n" + "".join(f"{keys[h]},{n}\n" for h, (n, _) in STRATA.items())
                  + (f"{total[0]},{total[1]}\n" if total else ""))
    return s, st


NOT_IRR = {0: "not irrigated", 1: "irrigated"}


@pytest.mark.parametrize("ref", [
    {0: "rainfed", 1: "irrigated"},
    {0: "non-irrigated", 1: "irrigated"},
    {0: "Rainfed", 1: "Irrigated"},
    {0: "0", 1: "1"},
    {0: "no", 1: "yes"},
])
def test_binary_words_read_as_zero_one(tmp_path, ref):
    oa, area1 = _truth()
    est, _ = area_from_samples(*_samples(tmp_path, NOT_IRR, ref))
    assert est.overall_accuracy == pytest.approx(oa, rel=1e-12)  # 0.670, not 0.052
    assert len(est.classes) == 2
    assert est.area["1"] == pytest.approx(area1, rel=1e-12)  # 139,320 px


def test_stratum_labels_read_the_same_way(tmp_path):
    oa, area1 = _truth()
    s, st = _samples(tmp_path, NOT_IRR, {0: "rainfed", 1: "irrigated"}, stratum_names={"s1": "not irrigated", "s2": "irrigated"},
                     strata_rows={"s1": "0", "s2": "1"})
    est, _ = area_from_samples(s, st)
    assert est.overall_accuracy == pytest.approx(oa, rel=1e-12)
    assert est.area["1"] == pytest.approx(area1, rel=1e-12)


def test_strata_total_row_dropped_or_refused(tmp_path):
    oa, _ = _truth()
    N = sum(n for n, _ in STRATA.values())
    est, _ = area_from_samples(*_samples(tmp_path, {0: "0", 1: "1"}, {0: "0", 1: "1"}, total=("Total", N)))
    assert est.overall_accuracy == pytest.approx(oa, rel=1e-12)
    assert est.total == N
    with pytest.raises(InputError, match="'Total'"):
        area_from_samples(*_samples(tmp_path, {0: "0", 1: "1"}, {0: "0", 1: "1"}, total=("Total", N - 1000)))


def test_partly_overlapping_words_refused_naming_both_columns(tmp_path):
    with pytest.raises(DataError) as e:
        area_from_samples(*_samples(tmp_path, NOT_IRR, {0: "rain-fed", 1: "irrigated"}))
    msg = str(e.value)
    assert "'not irrigated'" in msg and "'rain-fed'" in msg and "'rain-fed' -> 0" in msg


def test_control_multiclass_codes_partial_overlap_still_estimated(tmp_path):
    """Control (passes on the old code too): multi-class codes, map 1/2 against reference 2/3 (a class missing on
    each side of a small sample) is estimated as written (the new code also warns)."""
    s = tmp_path / "s.csv"
    s.write_text("stratum,map,reference\nA,1,2\nA,2,2\nA,2,2\nB,2,2\nB,2,3\nB,2,3\n")
    st = tmp_path / "st.csv"
    st.write_text("stratum,size\nA,100\nB,300\n")
    est, _ = area_from_samples(s, st)
    assert est.overall_accuracy == pytest.approx(0.25 * 2 / 3 + 0.75 * 1 / 3)


def test_ir_rf_hint_is_the_right_way_round():
    with pytest.raises(DataError) as e:
        binary_labels(["IR", "RF", "RF"])
    fix = str(e.value)
    assert "ir=1" in fix and "rf=0" in fix and "rf=1" not in fix


def _table8_frame(total="Total"):
    import pandas as pd

    n = np.array(COUNTS)
    body = np.vstack([np.column_stack([n, n.sum(axis=1)]), [*n.sum(axis=0), n.sum()]])
    return pd.DataFrame(body, index=[*CLASSES, total], columns=[*CLASSES, total])


@pytest.mark.parametrize("total", ["Total", "sum", "Grand total"])
def test_library_olofsson_reads_a_labelled_table8_without_its_margins(total):
    """Called as a library with Table 8 as printed (both margins) and sizes with their total: the published
    figures, not a fifth class 'Total' (before: OA 0.48 with no error)."""
    from irrmap.evaluation.area_estimation import olofsson

    sizes = {**dict(zip(CLASSES, SIZES)), total: sum(SIZES)}
    _check_published(olofsson(_table8_frame(total), sizes))


def test_library_olofsson_refuses_a_total_that_is_not_the_sum():
    from irrmap.evaluation.area_estimation import olofsson

    with pytest.raises(InputError, match="not the sum"):
        olofsson(_table8_frame(), {**dict(zip(CLASSES, SIZES)), "Total": sum(SIZES) + 10_000})


def test_library_stehman_leaves_out_a_total_stratum_size():
    """stehman() given strata sizes with their 'Total': the estimates of the sizes without it (hand-computed:
    OA = sum_h W_h acc_h with W = 10/40, 30/40 and acc_a = 1/2, acc_b = 1 -> 0.875)."""
    from irrmap.evaluation.area_estimation import stehman

    est = stehman(["a", "a", "b", "b"], [1, 1, 0, 0], [1, 0, 0, 0], {"a": 10, "b": 30, "Total": 40})
    assert est.overall_accuracy == pytest.approx(0.25 * 0.5 + 0.75 * 1.0)
    with pytest.raises(InputError, match="not the sum"):
        stehman(["a", "a", "b", "b"], [1, 1, 0, 0], [1, 0, 0, 0], {"a": 10, "b": 30, "Total": 50})
