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


# Decimals of a coordinate in the report: 0.01 m on a projected grid (metres, or feet), 1e-6 degree (about 0.1 m)
# on a geographic one; a choice of this report (finer than any 250 m pixel edge needs), not a published rule.
METRE_DECIMALS = 2
DEGREE_DECIMALS = 6


def coordinate_decimals(crs) -> int:
    """Decimals for coordinates of `crs` (anything pyproj.CRS.from_user_input reads): DEGREE_DECIMALS on a geographic
    CRS, METRE_DECIMALS otherwise (and when the CRS cannot be read)."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return DEGREE_DECIMALS if CRS.from_user_input(crs).is_geographic else METRE_DECIMALS
    except (CRSError, TypeError, ValueError):
        return METRE_DECIMALS


def fmt_coordinate(v: float, decimals: int, strip: bool = False) -> str:
    """Fixed point with thousands separators ('4,167,000.00'), never an exponent (':g' wrote 4.167e+06, rounded to
    about 2 m); `strip` drops trailing zeros (a resolution of 250 reads '250')."""
    text = f"{float(v):,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if strip and "." in text else text


def grid_text(g: dict) -> tuple[str, str]:
    """('x LEFT to RIGHT, y BOTTOM to TOP (CRS), AREA km2', 'ROWS x COLS pixels of RX x RY (CRS units)') of a RunInfo
    grid dict, coordinates in the CRS's units to coordinate_decimals."""
    d = coordinate_decimals(g["crs"])
    left, bottom, right, top = (fmt_coordinate(v, d) for v in g["bounds"])
    rows, cols = g["shape"]
    rx, ry = (fmt_coordinate(abs(v), d, strip=True) for v in g["resolution"][:2])
    return (f"x {left} to {right}, y {bottom} to {top} ({g['crs']}), {g.get('area_km2', float('nan')):,.1f} km2",
            f"{rows:,} x {cols:,} pixels of {rx} x {ry} ({g['crs']} units)")


def run_section(rep, info: RunInfo) -> dict:
    """Add 'What was mapped' to `rep` (an evaluation.report.Report); returns its results for results.json."""
    g = info.grid
    sec = rep.section("What was mapped")
    region, grid = grid_text(g)
    sec.table(pd.DataFrame({"item": ["run", "region (bounds)", "grid", "year", "model", "config", "software"], "value": [
        info.name, region, grid,
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


__all__ = ["RunInfo", "coordinate_decimals", "fmt_coordinate", "grid_text", "model_summary", "run_section"]
