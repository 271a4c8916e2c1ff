"""Score suitability weight vectors as METHOD.md section 2 does: by the summed Cohen's kappa, at reference
points, of the threshold maps that the S-scores (S x VI_max) give under those weights.

Everything lives on the candidate pixels (crop pixels inside units), so one weight vector costs one overlay
and one statistics-matched split per VI, on arrays, with no raster I/O. The kappas are computed per group of
points (a province, say) from the same maps: the split is per county, so a province's maps depend only on
its own counties, and one pass over the candidate vectors scores every group. The flat-unit rule (N-score in
flat units) is not applied here: in the search, every unit uses S x VI_max.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from sklearn.metrics import cohen_kappa_score

from irrmap.training.split_kernel import split


@dataclass
class SearchInputs:
    """The search's data, on the candidate pixels (same order as `unit` and `area`)."""

    classes: Mapping[str, np.ndarray]  # factor name -> class per candidate (1..n)
    n_classes: Mapping[str, int]  # factor name -> number of classes
    vi: Mapping[str, np.ndarray]  # VI name -> VI_max per candidate (NaN: no score)
    unit: np.ndarray  # zone id per candidate
    area: np.ndarray  # cropland area per candidate (m2)
    target: np.ndarray  # target area per zone id 0..N (NaN: no statistic)
    point_candidate: np.ndarray  # candidate index per reference point (-1: the point is on no candidate)
    point_label: np.ndarray  # 1 irrigated, 0 not, per point
    point_group: np.ndarray  # group key per point (e.g. province code)


def point_candidates(candidate_pos: np.ndarray, rows: np.ndarray, cols: np.ndarray, width: int) -> np.ndarray:
    """Index into the candidates (sorted flat positions) of each point's pixel; -1 where it is no candidate."""
    pos = np.asarray(rows, np.int64) * width + np.asarray(cols, np.int64)
    idx = np.searchsorted(candidate_pos, pos)
    hit = (idx < candidate_pos.size) & (candidate_pos[np.minimum(idx, candidate_pos.size - 1)] == pos)
    return np.where(hit, idx, -1)


class KappaScorer:
    """score(weights) -> {group: summed kappa over the VIs}. Points on pixels the maps leave out (no
    candidate, no statistic, no score) do not count; a group whose kappa is undefined (one class only in the
    map or the labels at its points) scores 0 for that VI."""

    def __init__(self, data: SearchInputs):
        self.d = data
        has_stat = np.isfinite(np.asarray(data.target, np.float64))
        self._usable = (data.point_candidate >= 0) & has_stat[data.unit[np.maximum(data.point_candidate, 0)]]
        self.groups = sorted(set(np.asarray(data.point_group)[self._usable].tolist()))  # groups with usable points

    def uninformative(self) -> dict:
        """{group: reason} for the groups whose usable points cannot rank weight vectors: fewer than two points, or
        labels of one class only (kappa is then 0 or undefined for every vector, so the "best" vector would be the
        tie-break's choice, not the points')."""
        out = {}
        for g in self.groups:
            y = self.d.point_label[self._usable & (self.d.point_group == g)]
            if y.size < 2:
                out[g] = f"{y.size} usable point(s)"
            elif np.unique(y).size < 2:
                out[g] = f"all {y.size} usable points are labelled {int(y[0])}"
        return out

    def suitability(self, weights: Mapping[str, float]) -> np.ndarray:
        s = np.zeros(self.d.unit.size, np.float64)
        for name, w in weights.items():
            s += np.asarray(self.d.classes[name], np.float64) * (float(w) / float(self.d.n_classes[name]))
        return s.astype(np.float32)

    def __call__(self, weights: Mapping[str, float]) -> dict:
        s = self.suitability(weights)
        total = {g: 0.0 for g in self.groups}
        for vi in self.d.vi.values():
            score = s * np.asarray(vi, np.float32)
            ok = np.isfinite(score)
            labelled = np.zeros(score.size, np.uint8)
            labelled[ok] = split(self.d.unit[ok], score[ok], self.d.area[ok], self.d.target)[0]
            valid = self._usable & ok[np.maximum(self.d.point_candidate, 0)]
            mapped = labelled[np.maximum(self.d.point_candidate, 0)]
            for g in self.groups:
                m = valid & (self.d.point_group == g)
                y, p = self.d.point_label[m], mapped[m]
                if m.sum() < 2 or (np.unique(y).size < 2 and np.unique(p).size < 2):
                    continue  # kappa is 0 / 0
                k = cohen_kappa_score(y, p)
                total[g] += float(k) if np.isfinite(k) else 0.0
        return total


def search_by_group(scorer: KappaScorer, candidates: np.ndarray, names, progress=None) -> dict:
    """Score every candidate vector once; returns {group: array of summed kappas, one per candidate}."""
    out = {g: np.empty(len(candidates)) for g in scorer.groups}
    for i, row in enumerate(candidates):
        res = scorer(dict(zip(names, row.tolist())))
        for g, v in res.items():
            out[g][i] = v
        if progress is not None:
            progress(1)
    return out
