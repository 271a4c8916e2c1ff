"""Design-based accuracy at reference points from a stratified (or Poisson-stratified) probability sample.

The points carry a stratum and either their inclusion probability or the stratum sizes are given. Stratum
sizes N_h come from the given sizes or, from inclusion probabilities pi_k, as the Horvitz-Thompson estimate
N_h = sum over the stratum's points of 1 / pi_k. The estimates are those of Stehman (2014; Int. J. Remote Sens.
35:4923-4939) through `area_estimation.stehman`: with estimated N_h each is the Hajek (ratio) estimator
sum_k y_k / pi_k / sum_k 1 / pi_k within strata, weighted by N_h (`stehman(..., weights=1/pi)`; with given stratum sizes
the points of a stratum weigh equally). Sizes count pixels of the sampling frame the points were drawn from;
`SampleDesign.unit_area_ha` (the frame's pixel area) turns them into hectares when the frame's pixels have one
area (equal-area CRS, or a frame without a grid). When the frame is a map whose pixels differ in area (geographic
grid), `design_accuracy(..., pixel_areas=...)` makes each stratum's area the sum of its pixels' true areas and
weights the points by their pixels' areas (evaluation.design_areas), so the estimates are in ha.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
from irrmap.evaluation.area_estimation import AreaEstimate, stehman
from irrmap.evaluation.design_areas import PixelAreas, stratum_areas

from irrmap.core.errors import DataError



def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def stratum_text(values) -> pd.Series:
    """The strata of the points as text in Unicode NFC form (pandas Series of str), so a stratum name whose accent is
    encoded as two code points (NFD, e.g. from a macOS export) is the stratum named with one (NFC) on the command
    line or in a table; ASCII names are unchanged."""
    return pd.Series(values).astype(str).map(_nfc)


@dataclass(frozen=True)
class SampleDesign:
    """How the reference points were drawn: the point field naming the stratum, and the field with each point's
    inclusion probability or the size (pixels) of each stratum."""

    stratum_field: str
    inclusion_field: str | None = None
    stratum_sizes: dict | None = None
    #: area (ha) of one unit of the stratum sizes, i.e. of one pixel of the sampling frame the points were drawn
    #: from (sizes and sum(1/pi) count frame pixels). None: areas stay in frame pixels (never the evaluated
    #: map's pixels, whose size need not be the frame's).
    unit_area_ha: float | None = None
    #: where unit_area_ha comes from, for the report and results.json: e.g. '[evaluation].frame_pixel_area_ha', or
    #: "default: the mean pixel area of the run's grid, ..." (irrmap.app.stages.report_context.sample_design); None:
    #: given on the command line (--frame-pixel-area) or not at all
    unit_area_from: str | None = None

    def __post_init__(self):
        if self.stratum_sizes:  # keys as stratum_text gives the points' strata (NFC, stripped)
            object.__setattr__(self, "stratum_sizes", {_nfc(str(k).strip()): v for k, v in self.stratum_sizes.items()})

    @property
    def unit_area_source(self) -> str | None:
        """Where the frame pixel area comes from (unit_area_from, else '--frame-pixel-area' when one is given)."""
        return self.unit_area_from or ("--frame-pixel-area" if self.unit_area_ha else None)

    @property
    def sizes_from(self) -> str:
        return "given stratum sizes" if self.stratum_sizes else f"inclusion probabilities ({self.inclusion_field!r}, sum of 1/pi per stratum)"

    @property
    def weights_from(self) -> str:
        return (f"1/pi of each point ({self.inclusion_field!r}; Hajek estimator within strata)" if self.inclusion_field
                else "equal within each stratum (N_h / n_h)")


@dataclass
class DesignAccuracy:
    """Stehman (2014) estimates (`estimate`: OA, kappa, UA/PA, area proportions with SEs; areas in frame pixels,
    or in ha when `area_unit` is 'ha': stratum areas summed from true pixel areas) and one row per stratum (`strata`)."""

    estimate: AreaEstimate
    strata: pd.DataFrame
    design: SampleDesign
    area_unit: str = "frame_pixels"

    def to_dict(self, class_names: dict) -> dict:
        return {"design": {"stratum_field": self.design.stratum_field, "sizes_from": self.design.sizes_from,
                           "weights_within_strata": self.design.weights_from, "size_unit": "pixels of the sampling frame",
                           "frame_pixel_area_ha": self.design.unit_area_ha, "frame_pixel_area_from": self.design.unit_area_source,
                           "area_unit": self.area_unit,
                           "areas_from": ("sum of the true pixel areas of each stratum (pixels differ in area)" if self.area_unit == "ha"
                                          else "stratum sizes in frame pixels")},
                **self.estimate.to_dict(class_names), "strata": self.strata.to_dict(orient="records")}


def stratum_sizes(samples: pd.DataFrame, design: SampleDesign, source: str = "points") -> pd.Series:
    """N_h per stratum (index: stratum as text): `design.stratum_sizes`, or sum(1 / pi_k) over each stratum's
    points. Raises DataError for missing fields, inclusion probabilities outside (0, 1], both sizes and inclusion
    probabilities, a given size naming no stratum of the points, or a given size below the stratum's sample size."""
    fields = [c for c in samples.columns if c not in _SAMPLE_COLUMNS]
    for f in (design.stratum_field, design.inclusion_field):
        if f and f not in samples.columns:
            raise DataError(f"field {f!r} not found in the points", source, f"use one of the points' fields: {', '.join(map(str, fields[:30]))}")
    if design.stratum_sizes and design.inclusion_field:
        raise DataError("both stratum sizes and an inclusion field are given", source, "give --inclusion-field or --stratum-size, not both")
    strata = stratum_text(samples[design.stratum_field])
    if design.stratum_sizes:
        sizes = pd.Series({str(k).strip(): float(v) for k, v in design.stratum_sizes.items()})
        present = sorted(set(strata))
        unmatched = [k for k in sizes.index if k not in present]
        if unmatched:
            raise DataError(f"stratum size {', '.join(map(repr, unmatched[:10]))} matched no stratum of field {design.stratum_field!r}",
                            source, f"name the strata as in the points: {', '.join(map(repr, present[:20]))}")
        n_h = strata.value_counts()
        small = [(k, sizes[k], int(n_h[k])) for k in sizes.index if sizes[k] < n_h[k]]
        if small:
            raise DataError("stratum sizes smaller than the stratum's sample: " + ", ".join(f"{k} = {v:g} with n = {n}" for k, v, n in small[:10])
                            + " (a stratum holds at least the points drawn from it)", source,
                            "give each stratum's size in pixels of the sampling frame (all pixels it holds, not only the sampled ones)")
        return sizes
    pi = pd.to_numeric(samples[design.inclusion_field], errors="coerce")
    bad = ~((pi > 0) & (pi <= 1))
    if bad.any():
        percent = bool((pi > 0).all() and (pi <= 100).all())  # an inclusion probability > 1 is impossible: percent?
        fix = ("the values look like percent (up to 100): give probabilities, the field divided by 100 (e.g. "
               f"{pi[bad].iloc[0]:g} -> {pi[bad].iloc[0] / 100:g})" if percent else "give each point's probability of being sampled, in (0, 1]")
        raise DataError(f"{int(bad.sum())} inclusion probabilities are not in (0, 1] (e.g. {_shown(samples.loc[bad, design.inclusion_field].iloc[0])})",
                        f"{source}: field {design.inclusion_field!r}", fix)
    return (1.0 / pi).groupby(strata).sum()


def _shown(v) -> str:
    """A field value for a message: numbers as 10 or 0.25 (not np.float64(10.0)), text quoted."""
    return format(float(v), "g") if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else repr(v)


#: columns evaluation.points.sample_points adds to the points (not fields of the user's file)
_SAMPLE_COLUMNS = {"map", "reference", "value", "used", "snapped", "no_crop", "inside", "row", "col", "group", "geometry", "snap_distance_m"}


def design_accuracy(samples: pd.DataFrame, design: SampleDesign, classes=(0, 1), source: str = "points",
                    all_points: pd.DataFrame | None = None, pixel_areas: PixelAreas | None = None) -> DesignAccuracy:
    """Design-based accuracy of the used points (`samples`: columns map, reference (0/1) and the design fields,
    one row per point used). Stratum sizes as in `stratum_sizes`; raises DataError as `area_estimation.stehman`
    does (a stratum with a size but no point, labels outside `classes`).

    `all_points` (optional; the stratum field of every point drawn, used or not, e.g. off the map, on its nodata,
    without a label): both routes then estimate over one population, the part of the frame the used points
    represent. With inclusion probabilities N_h = sum of 1/pi over the used points (Horvitz-Thompson over that
    part); given stratum sizes count the whole frame stratum, so they are scaled by the stratum's used share
    n_used,h / n_h (points of a stratum weigh equally), the same ratio estimate of that part. Without the
    scaling the given sizes also counted the frame pixels off the map's valid area, extrapolating the valid area's
    means onto them. The per-stratum table keeps the given size (size_frame_pixels) beside the used share.

    `pixel_areas` (optional; the frame is a map whose pixels differ in area, see evaluation.design_areas): the
    stratum sizes become areas A_h (ha, sums of true pixel areas), the weights W_h = A_h / A and each point
    weighs its pixel's area times its design weight; the estimate's areas are then in ha (area_unit 'ha') and
    the per-stratum table gains area_ha."""
    sizes = stratum_sizes(samples, design, source)
    share = None
    if design.stratum_sizes and all_points is not None:
        n_all = stratum_text(all_points[design.stratum_field]).value_counts()
        n_used = stratum_text(samples[design.stratum_field]).value_counts()
        share = (n_used.reindex(sizes.index).fillna(0) / n_all.reindex(sizes.index)).fillna(1.0).clip(upper=1.0)
        frame_sizes, sizes = sizes, sizes * share
    strata = stratum_text(samples[design.stratum_field]).to_numpy()
    w = (1.0 / pd.to_numeric(samples[design.inclusion_field], errors="coerce")).to_numpy() if design.inclusion_field else None
    areas = None
    if pixel_areas is not None:  # N_h pixels -> A_h ha; points weigh a_k / pi_k (area-weighted Hajek means)
        areas, w = stratum_areas(sizes, strata, w, pixel_areas)
    est = stehman(strata, samples["map"].to_numpy(), samples["reference"].to_numpy(), sizes if areas is None else areas,
                  classes=list(classes), weights=w)
    w = np.ones(len(strata)) if w is None else w
    g = pd.DataFrame({"stratum": strata, "w": w, "correct": w * (samples["map"] == samples["reference"]).to_numpy(),
                      "map_irrigated": w * (samples["map"].to_numpy() == 1), "reference_irrigated": w * (samples["reference"].to_numpy() == 1)})
    grp = g.groupby("stratum")
    per = pd.DataFrame({"n": grp.size()})
    for col, name in (("correct", "overall_accuracy"), ("map_irrigated", "share_mapped_irrigated"),
                      ("reference_irrigated", "share_reference_irrigated")):
        per[name] = grp[col].sum() / grp["w"].sum()  # Hajek mean within the stratum (plain mean for equal weights)
    per.index.name = "stratum"
    per.insert(0, "size_pixels", sizes.reindex(per.index).to_numpy())
    if areas is None:
        per.insert(1, "weight", per["size_pixels"] / sizes.sum())
    else:  # W_h = A_h / A: strata weigh by area, not by pixel count
        per.insert(1, "area_ha", areas.reindex(per.index).to_numpy())
        per.insert(2, "weight", per["area_ha"] / areas.sum())
    per.insert(per.columns.get_loc("n") + 1, "weight_per_point", per["size_pixels"] / per["n"])
    if share is not None:
        per.insert(1, "size_frame_pixels", frame_sizes.reindex(per.index).to_numpy())
        per.insert(2, "share_of_points_used", share.reindex(per.index).to_numpy())
    return DesignAccuracy(est, per.reset_index(), design, "frame_pixels" if areas is None else "ha")


__all__ = ["DesignAccuracy", "SampleDesign", "design_accuracy", "stratum_sizes"]
