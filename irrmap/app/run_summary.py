"""The closing lines of `irrmap run`: headline accuracy with its 95 % CI, mapped area against the statistics,
the water bodies' scores against their reference (when the water stage scored any), the run's warnings, and
where the report (and the map viewer, when written) are."""

from __future__ import annotations

import json
from pathlib import Path

from irrmap.core.json_out import score_text

Z95 = 1.959964  # two-sided 95 % normal quantile


def _accuracy_line(results: dict) -> str | None:
    d = results.get("design_based")
    p = results.get("points")
    src, how = (d, "design-based") if d else (p, "points as a simple random sample")
    if not src or src.get("overall_accuracy") is None:
        return None
    oa, se = src["overall_accuracy"], src.get("overall_accuracy_se")
    ci = f", 95 % CI {max(0.0, oa - Z95 * se):.3f}-{min(1.0, oa + Z95 * se):.3f}" if se is not None else ""
    return f"accuracy: OA {oa:.3f}{ci} ({how}, {src['n']} points)"


def _area_line(results: dict) -> str | None:
    st = results.get("statistics")
    if not st or not st.get("levels"):
        return None
    level, m = next(iter(st["levels"].items()))
    if not m.get("n"):
        return None
    rb = m.get("relative_bias")
    return (f"mapped irrigated area: {m['sum_mapped']:,.0f} {st['unit']} against {m['sum_reference']:,.0f} {st['unit']} in the statistics "
            f"({int(m['n'])} {level} units" + (f", {rb:+.1%}" if rb is not None else "") + ")")


def _shown(stored: str, folder: Path) -> str:
    """A path stored relative to `folder` (irrmap.core.relative_path) as the console shows it: relative to the
    current directory when below it, else absolute."""
    import os

    from irrmap.core.relative_path import located_from

    p = located_from(stored, folder).absolute()
    return os.path.relpath(p) if p.is_relative_to(Path.cwd()) else str(p)


def _water_lines(results: dict, water_dir: Path) -> list[str]:
    """One line per epoch scored by the water stage (results.json "water" "scores", irrmap.mapping.water.score; the
    reference stored relative to `water_dir`, OUTPUT/water, shown from the current directory)."""
    fmt = lambda v, f: score_text(v, f, "n/a")  # noqa: E731
    return [f"water bodies {epoch} against {_shown(s['reference'], water_dir)}: precision {fmt(s['precision'], '.3f')}, recall {fmt(s['recall'], '.3f')} "
            f"({s['n_matched']} of {s['n_reference']} reference / {s['n_mapped']} mapped bodies matched at IoU >= {s['iou_threshold']:g}); "
            f"area error of the matched bodies: mean |error| {fmt(s['area_error']['mean_abs_pct'], '.2f')} %, "
            f"total {fmt(s['area_error']['total_pct'], '+.2f')} %"
            for epoch, s in (results.get("water") or {}).get("scores", {}).items()]


def closing_summary(manifest: dict, max_warnings: int = 5) -> list[str]:
    """Lines for the console after a run, from manifest.json's content and evaluation/results.json."""
    out_dir = Path(manifest["output_dir"])
    lines = []
    results_file = out_dir / "evaluation" / "results.json"
    if "evaluation" in manifest["stages"] and results_file.exists():
        results = json.loads(results_file.read_text())
        lines += [ln for ln in (_accuracy_line(results), _area_line(results)) if ln] + _water_lines(results, out_dir / "water")
    warnings = manifest.get("warnings", [])
    lines.append(f"warnings: {len(warnings)}" + (" (repeated below; cause and fix in each)" if warnings else ""))
    for w in warnings[:max_warnings]:
        msg = w["message"] if len(w["message"]) <= 200 else w["message"][:197] + "..."
        lines.append(f"  [{w['stage']}] {msg}")
    if len(warnings) > max_warnings:
        lines.append(f"  ... and {len(warnings) - max_warnings} more in manifest.json")
    report = [p for p in manifest["stages"].get("evaluation", {}).get("outputs", []) if p.endswith(".html")]
    if report:
        lines.append(f"report: {out_dir / report[0]}")
    if (out_dir / "view.html").exists():
        lines.append(f"map viewer: {out_dir / 'view.html'}")
    return lines


__all__ = ["closing_summary"]
