"""The report section saying what was mapped: run, region and grid, year, the input files with their SHA-256
checksums, the model (type, scope, training samples), a method summary and the config itself."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class RunInfo:
    """What a run mapped and how (filled by the pipeline's evaluation stage from its config and checksums).

    grid: {"crs", "shape": (rows, cols), "resolution": (x, y) in CRS units, "bounds": (left, bottom, right, top),
    "area_km2"}; inputs: {path: sha256}; model_card: the models stage's card (models/model.card.json) or None;
    method: one line per step; outputs: {what: path relative to the report} for the analyst's files."""

    name: str
    config_path: str
    config_text: str
    grid: dict
    year: int | None = None
    inputs: dict = field(default_factory=dict)
    model_card: dict | None = None
    method: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)
    software: str = ""


def model_summary(card: dict | None) -> str:
    """'rf, scope global, 2,718 training samples (997 irrigated, 1,721 not)' from a model card."""
    if not card:
        return "no classifier (threshold map)"
    s = card.get("samples", {})
    return (f"{card.get('model')}, scope {card.get('scope')}, {s.get('total', 0):,} training samples "
            f"({s.get('irrigated', 0):,} irrigated, {s.get('not_irrigated', 0):,} not), {s.get('models', 1)} fitted model(s)")


def run_section(rep, info: RunInfo) -> dict:
    """Add 'What was mapped' to `rep` (an evaluation.report.Report); returns its results for results.json."""
    g = info.grid
    sec = rep.section("What was mapped")
    left, bottom, right, top = g["bounds"]
    rows, cols = g["shape"]
    sec.table(pd.DataFrame({"item": ["run", "region (bounds)", "grid", "year", "model", "config", "software"], "value": [
        info.name, f"{left:g}, {bottom:g} to {right:g}, {top:g} ({g['crs']}), {g.get('area_km2', float('nan')):,.1f} km2",
        f"{rows:,} x {cols:,} pixels of {abs(g['resolution'][0]):g} x {abs(g['resolution'][1]):g} ({g['crs']} units)",
        "n/a" if info.year is None else str(info.year), model_summary(info.model_card), info.config_path, info.software]}))
    if info.method:
        sec.text("Method: " + " ".join(info.method))
    if info.outputs:
        sec.text("Outputs: " + "; ".join(f"[{what}]({path})" for what, path in info.outputs.items()) + ".")
    if info.inputs:
        sec.text(f"{len(info.inputs)} input files were read; their SHA-256 checksums below are in the format of `sha256sum` "
                 "(check them with `sha256sum -c` from the config's folder; also in manifest.json).")
        sec.code("\n".join(f"{c}  {p}" for p, c in info.inputs.items()), f"Input files ({len(info.inputs)}) with SHA-256")
    sec.code(info.config_text, "Config")
    return {"name": info.name, "grid": g, "year": info.year, "inputs": info.inputs, "model": model_summary(info.model_card)}


__all__ = ["RunInfo", "model_summary", "run_section"]
