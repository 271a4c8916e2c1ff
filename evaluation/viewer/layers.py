"""Which layers a finished run offers the viewer, found from its manifest.json (the stages' recorded outputs)
and skipped when absent: the irrigation map, probability, threshold maps, water bodies, tree cover, admin
units with the per-unit area table, and the reference points used by the evaluation."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from irrmap.core.errors import InputError
from irrmap.core.palettes import IRRIGATION, WATER

# (pattern of a recorded output, layer id, title, group); first match per id wins, in this order
RASTER_PATTERNS = [
    ("mapping/class.tif", "irrigation", "Irrigation map", "map"),
    ("mapping/probability.tif", "probability", "Probability of irrigation", "map"),
    ("mapping/raw/probability.tif", "probability", "Probability of irrigation", "map"),
    ("training/threshold_*.tif", "threshold_{name}", "Threshold map {name}", "threshold"),
    ("treecover/*/cover.tif", "treecover_{epoch}", "Tree cover {epoch}", "treecover"),
    ("water/*/water.tif", "water_{epoch}", "Water bodies {epoch}", "water"),  # after tree cover: drawn above it
]
EXCLUDE = ("water/reference/*",)
IRRIGATION_LABELS = {0: "cropland, not irrigated", 1: "irrigated", 2: "no cropland"}


@dataclass
class RasterLayer:
    id: str
    title: str
    path: Path
    group: str
    visible: bool = False


@dataclass
class RunLayers:
    run_dir: Path
    manifest: dict
    rasters: list[RasterLayer] = field(default_factory=list)
    units: object | None = None  # the run config's [units] section (irrmap.core.config.UnitsSection), paths resolved
    unit_table: Path | None = None
    points: Path | None = None
    notes: list[str] = field(default_factory=list)


def find_run(run_dir) -> tuple[Path, dict]:
    """The run's output folder and its manifest; RUN_DIR may also be the folder holding config.toml and output/."""
    run_dir = Path(run_dir)
    for cand in (run_dir, run_dir / "output"):
        if (cand / "manifest.json").is_file():
            try:
                return cand, json.loads((cand / "manifest.json").read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise InputError(f"{cand / 'manifest.json'} is not valid JSON ({exc}); run `irrmap run CONFIG` again") from exc
    raise InputError(f"{run_dir} holds no manifest.json: give the output folder of a finished `irrmap run` "
                     "(the folder with manifest.json, mapping/, evaluation/)")


def recorded_outputs(manifest: dict) -> list[str]:
    out = []
    for stage in manifest.get("stages", {}).values():
        out += stage.get("outputs", [])
    return out


def _fill(template: str, rel: str) -> str:
    parts = Path(rel).parts
    stem = Path(rel).stem
    return template.format(stem=stem, name=stem.removeprefix("threshold_"), epoch=parts[1] if len(parts) > 2 else stem)


def discover(run_dir) -> RunLayers:
    out_dir, manifest = find_run(run_dir)
    layers = RunLayers(run_dir=out_dir, manifest=manifest)
    outputs = [o for o in recorded_outputs(manifest) if not any(fnmatch.fnmatch(o, e) for e in EXCLUDE)]
    seen = set()
    for pattern, ident, title, group in RASTER_PATTERNS:
        for rel in sorted(o for o in outputs if fnmatch.fnmatch(o, pattern)):
            lid = _fill(ident, rel)
            if lid in seen:
                continue
            if not (out_dir / rel).is_file():
                layers.notes.append(f"{rel} is in the manifest but missing on disk: layer skipped")
                continue
            seen.add(lid)
            layers.rasters.append(RasterLayer(lid, _fill(title, rel), out_dir / rel, group, visible=lid == "irrigation"))
    if not any(r.id == "irrigation" for r in layers.rasters):
        layers.notes.append("no irrigation map (mapping/class.tif) in this run")
    table = out_dir / "mapping" / "irrigated_area_by_unit.csv"
    layers.unit_table = table if table.is_file() else None
    pts = [o for o in outputs if o.endswith("points_sampled.csv")]
    layers.points = out_dir / pts[0] if pts and (out_dir / pts[0]).is_file() else None
    layers.units = _units_source(manifest, layers.notes)
    return layers


def _units_source(manifest: dict, notes: list[str]):
    """The admin polygons named by the run's config ([units] path, layer, code_field, name_field)."""
    cfg_path = Path(manifest.get("config", ""))
    if not cfg_path.is_file():
        notes.append(f"config {cfg_path} not found: no admin units layer")
        return None
    from pydantic import ValidationError

    from irrmap.core.config import UnitsSection

    units = tomllib.loads(cfg_path.read_text(encoding="utf-8")).get("units")
    if not units:
        return None
    try:
        section = UnitsSection.model_validate(units)
    except ValidationError as exc:
        notes.append(f"[units] of {cfg_path} does not validate ({exc.errors()[0]['msg']}): no admin units layer")
        return None
    path = section.path.expanduser()
    section = section.model_copy(update={"path": path if path.is_absolute() else (cfg_path.parent / path).resolve()})
    if not section.path.exists():
        notes.append(f"admin units {section.path} not found: layer skipped")
        return None
    return section


def class_table(src) -> dict[int, tuple]:
    """A class map's colour table: the file's own, else irrmap's irrigation palette."""
    try:
        table = dict(src.colormap(1))
    except ValueError:
        table = dict(IRRIGATION)
    nodata = src.nodata
    if nodata is not None and 0 <= nodata < 256:
        table[int(nodata)] = (255, 255, 255, 0)
    return table


__all__ = ["IRRIGATION_LABELS", "WATER", "RasterLayer", "RunLayers", "class_table", "discover", "find_run", "recorded_outputs"]
