"""The report section on design-based accuracy: OA, kappa, UA/PA with SEs and 95 % CIs, error-adjusted areas
with CIs and a per-stratum table, from `evaluation.design.design_accuracy` (Stehman 2014), set beside the
simple-random-sample figures the points would give if their design were ignored."""

from __future__ import annotations

import math

import pandas as pd

from irrmap.evaluation.confusion import Z95


#: the basis of the design-based areas, stated beside them: a point's class stands for its whole pixel, so these
#: areas are not the cropland-fraction weighted mapped area of the headline and the statistics section
AREA_BASIS = ("; whole pixel areas (every pixel of a class counts in full, not weighted by its cropland fraction), so larger "
              "than, and not comparable with, the cropland-fraction weighted mapped irrigated area of the headline and the "
              "statistics section")


def ci95(v: float, se: float) -> tuple[float, float]:
    """Normal 95 % interval v +- 1.96 SE, clipped to [0, 1] for proportions; (NaN, NaN) when SE is NaN."""
    if se != se or v != v:
        return math.nan, math.nan
    return max(0.0, v - Z95 * se), min(1.0, v + Z95 * se)


def headline(design) -> str:
    """'OA 0.718 (95 % CI 0.63-0.80)' of a DesignAccuracy."""
    est = design.estimate
    lo, hi = ci95(est.overall_accuracy, est.overall_accuracy_se)
    ci = "CI not estimable" if lo != lo else f"95 % CI {lo:.3f}-{hi:.3f}"
    return f"overall accuracy {est.overall_accuracy:.3f} ({ci}; design-based, n = {est.n})"


def frame_note(design) -> str:
    """' (frame pixel area X ha: <where it comes from>)' of an evaluation.design.SampleDesign, or '' without a source."""
    src = design.unit_area_source
    return f" (frame pixel area {design.unit_area_ha:.6g} ha: {src})" if src and design.unit_area_ha else ""


def design_section(rep, design, srs, class_names: dict, pixel_area_ha: float | None, command: str, *,
                   areas_in_ha: bool = False) -> dict:
    """Add the section to `rep` (an evaluation.report.Report). `design`: DesignAccuracy; `srs`: the
    confusion.Accuracy of the same points as a simple random sample; `pixel_area_ha`: the area (ha) of
    one pixel of the sampling frame (the unit of the stratum sizes; SampleDesign.unit_area_ha) to turn the areas
    into hectares, or None (areas in frame pixels). `areas_in_ha`: the estimate's areas are already in ha (each
    stratum's area summed from its pixels' true areas, DesignAccuracy.area_unit 'ha'), so no scaling.
    Returns the section's results for results.json."""
    est = design.estimate
    sec = rep.section("Accuracy (design-based)")
    lo, hi = ci95(est.overall_accuracy, est.overall_accuracy_se)
    sec.text(f"The reference points are a stratified probability sample (stratum field `{design.design.stratum_field}`; stratum sizes from "
             f"{design.design.sizes_from}). Each point stands for the pixels of its stratum, so every estimate below weights the points "
             f"by stratum size over stratum sample size (Stehman 2014); within a stratum, points weigh {design.design.weights_from}. Treated as a simple random sample the same {srs.n} points "
             f"give OA {srs.overall_accuracy:.3f}; weighted by the design, **{headline(design)}**.")
    k_lo, k_hi = (max(-1.0, est.kappa - Z95 * est.kappa_se), min(1.0, est.kappa + Z95 * est.kappa_se)) if est.kappa_se == est.kappa_se else (math.nan, math.nan)
    sec.table(pd.DataFrame({
        "measure": ["overall accuracy", "kappa"],
        "estimate": [est.overall_accuracy, est.kappa], "SE": [est.overall_accuracy_se, est.kappa_se],
        "95% CI lower": [lo, k_lo], "95% CI upper": [hi, k_hi],
        "as simple random sample": [srs.overall_accuracy, srs.kappa],
    }), "Overall accuracy (Stehman 2014 eq. 2-3) and Cohen's kappa of the estimated error matrix (SE by Taylor linearisation "
        "under the design); last column: the unweighted figures.")
    rows = []
    for c in est.classes:
        for what, v, se in (("user's accuracy", est.users_accuracy[c], est.users_accuracy_se[c]),
                            ("producer's accuracy", est.producers_accuracy[c], est.producers_accuracy_se[c])):
            rows.append({"class": class_names.get(c, c), "measure": what, "estimate": v, "SE": se,
                         "95% CI lower": ci95(v, se)[0], "95% CI upper": ci95(v, se)[1]})
    sec.table(pd.DataFrame(rows), "Per class (ratio estimators, Stehman 2014 eqs. 26-27).")
    scale, unit = (1.0, "ha") if areas_in_ha else (1 / pixel_area_ha, "ha") if pixel_area_ha else (1.0, "frame_pixels")
    area = est.table(class_names, area_scale=scale, area_unit=unit)
    # the mapped area of each class over the same population (design-based estimate of the error matrix's row sums)
    area.insert(3, f"mapped_area_{unit}", est.error_matrix.sum(axis=1).reindex(est.classes).to_numpy() * est.total / scale)
    sec.table(area[["class", "area_proportion", "area_proportion_se", f"mapped_area_{unit}", f"area_{unit}", f"area_se_{unit}",
                    f"area_ci95_lower_{unit}", f"area_ci95_upper_{unit}"]],
              f"Error-adjusted area of each reference class over the sampled population only (the strata of "
              f"`{design.design.stratum_field}`: {est.total:,.0f} {'ha' if areas_in_ha else 'pixels of the sampling frame'}, sum of the stratum sizes over the part the "
              "used points represent, i.e. without the share of each stratum's points off the map's valid area or left out), with SE and "
              "95 % CI, beside the area the map labels as that class over the same population (estimated from the same points), "
              "not over the whole map"
              + AREA_BASIS
              + ("; each stratum's area is the sum of its pixels' true (ellipsoidal) areas, as the map's pixels differ in area, "
                 "and points weigh by their pixel's area" + frame_note(design.design) + "." if areas_in_ha else
                 f"; frame pixels times the frame's pixel area, {pixel_area_ha:.4g} ha" + frame_note(design.design) + "." if pixel_area_ha else
                 "; in pixels of the sampling frame, as the stratum sizes are (give --frame-pixel-area HA for hectares: the "
                 "evaluated map's pixels need not be the frame's)."))
    sec.table(design.strata, "Per stratum: size (pixels of the sampling frame), "
                             + ("area A_h (ha, sum of true pixel areas), weight A_h/A" if areas_in_ha else "weight N_h/N")
                             + ", points n_h, pixels each point stands for, "
                             "and the stratum's own shares (" + ("weighted by 1/pi" if design.design.inclusion_field else "unweighted") + ").")
    reasons = est.to_dict(class_names)["not_estimable"]
    if reasons:
        sec.text("Not estimable (n/a above): " + "; ".join(f"{k}: {why}" for k, why in reasons.items()) + ".")
    sec.command(command)
    return design.to_dict(class_names)


__all__ = ["AREA_BASIS", "ci95", "design_section", "frame_note", "headline"]
