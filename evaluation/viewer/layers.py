"""Which layers a finished run offers the viewer, found from its manifest.json (the stages' recorded outputs)
and skipped when absent: the irrigation map, probability, threshold maps, water bodies, tree cover, admin
units with the per-unit area table, and the reference points used by the evaluation.

The run's config is the one the run used (`run_config`): the manifest's `config` path, or the same relative path
from the run folder when the folder was moved or copied, accepted only when its sha256 equals the manifest's
`config_sha256`; an edited config gives no admin units layer and no title from it (a note names the fix)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
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
    config: dict | None = None  # the run's config (TOML as a dict), None when the one the run used is not found
    config_path: Path | None = None
    cropland: Path | None = None  # the run's cropland fraction on the map's grid (aligned/cropland.tif)
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
    layers.config_path, layers.config = run_config(out_dir, manifest, layers.notes)
    layers.cropland = _cropland(out_dir, outputs, layers.config)
    layers.units = _units_source(layers.config_path, layers.config, layers.notes)
    return layers


def shown_files(layers: RunLayers) -> list[Path]:
    """The files of the output folder the viewer reads: its raster layers, the cropland fraction, the per-unit
    table, the reference points and the tables of the unit popups (popups.unit_rows), those that exist."""
    out = layers.run_dir
    files = [r.path for r in layers.rasters] + [f for f in (layers.cropland, layers.unit_table, layers.points) if f is not None]
    files += sorted(out.glob("evaluation/statistics_*.csv")) + sorted(out.glob("statistics/totals_*.csv")) + [out / "units" / "units.csv"]
    return [f for f in dict.fromkeys(files) if f.is_file()]


def _note(notes: list[str], text: str) -> None:
    """A note: shown in the page's header and printed by `irrmap view` (the viewer's warnings, RunLayers.notes)."""
    notes.append(text)


def run_config(out_dir: Path, manifest: dict, notes: list[str]) -> tuple[Path | None, dict | None]:
    """(path, parsed TOML) of the config the run in `out_dir` used, or (None, None) with a note.

    Candidates: the manifest's `config` (absolute) and, when the run folder is not the manifest's `output_dir`
    (moved or copied), the config at the same path relative to the run folder (tried first then: the absolute
    path names the original folder's config, whose relative paths point at the original inputs). The first that
    exists is taken when the sha256 of its text equals the manifest's `config_sha256` (irrmap.core.config's
    LoadedConfig.sha256 of the utf-8 text; a manifest without it, from older runs, takes it as it is); an edited
    config gives (None, None) and a note naming the fix (`irrmap run CONFIG` again, or restore the config)."""
    recorded = manifest.get("config") or ""
    if not recorded:
        _note(notes, "the manifest names no config: no admin units layer")
        return None, None
    orig = Path(recorded)
    cands = [orig]
    old_out = manifest.get("output_dir")
    if old_out and Path(old_out).resolve() != out_dir.resolve():
        cands.insert(0, Path(os.path.normpath(out_dir.resolve() / os.path.relpath(orig, Path(old_out)))))
    want = manifest.get("config_sha256")
    cfg = next((c for c in dict.fromkeys(cands) if c.is_file()), None)
    if cfg is None:
        _note(notes, f"config {' or '.join(str(c) for c in dict.fromkeys(cands))} not found: no admin units layer "
                     "(keep config.toml beside the output folder when moving a run)")
        return None, None
    text = cfg.read_text(encoding="utf-8")
    if want and hashlib.sha256(text.encode("utf-8")).hexdigest() != want:
        _note(notes, f"config {cfg} was edited after the run (its sha256 differs from the manifest's config_sha256): "
                     "the admin units and the title are not taken from it, as it may not describe this run's outputs; "
                     f"fix: `irrmap run {cfg}` again, or restore the config the run used")
        return None, None
    try:
        return cfg, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        _note(notes, f"config {cfg} is not valid TOML ({exc}): no admin units layer")
        return None, None


def _cropland(out_dir: Path, outputs: list[str], config: dict | None) -> Path | None:
    """The run's cropland fraction on the map's grid: the output of stage inputs.<training.cropland> (default
    'cropland', irrmap.core.config), else aligned/cropland.tif; None when absent."""
    name = ((config or {}).get("training") or {}).get("cropland", "cropland")
    rels = [o for o in outputs if o == f"aligned/{name}.tif"] + ["aligned/cropland.tif"]
    return next((out_dir / r for r in rels if (out_dir / r).is_file()), None)


def _units_source(cfg_path: Path | None, config: dict | None, notes: list[str]):
    """The admin polygons named by the run's config ([units] path, layer, code_field, name_field)."""
    if cfg_path is None or config is None:
        return None
    from pydantic import ValidationError

    from irrmap.core.config import UnitsSection

    units = config.get("units")
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


__all__ = ["IRRIGATION_LABELS", "WATER", "RasterLayer", "RunLayers", "class_table", "discover", "find_run", "recorded_outputs", "run_config", "shown_files"]
