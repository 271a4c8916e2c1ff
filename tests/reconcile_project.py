"""Shared pieces of the small hand-made reconcile projects in the reconcile tests: float32 EPSG:4326 inputs, unit
polygons as GeoJSON and the run config with a [reconcile] section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin


def write_inputs(folder: Path, fields: dict[str, np.ndarray], left: float, top: float, res: float) -> None:
    """folder/<name>.tif for each (rows, cols) array of `fields`: float32, NaN nodata, EPSG:4326 north-up pixels of
    `res` degrees whose upper-left corner is (left, top)."""
    for name, v in fields.items():
        rows, cols = v.shape
        profile = {"driver": "GTiff", "dtype": "float32", "width": cols, "height": rows, "count": 1, "crs": "EPSG:4326",
                   "transform": from_origin(left, top, res, res), "nodata": float("nan")}
        with rasterio.open(folder / f"{name}.tif", "w", **profile) as dst:
            dst.write(v.astype(np.float32), 1)


def write_box_units(folder: Path, boxes: dict[str, tuple[float, float, float, float]]) -> None:
    """folder/units.geojson: one lon/lat rectangle (west, south, east, north) per code, property `code`."""
    feats = [{"type": "Feature", "properties": {"code": c},
              "geometry": {"type": "Polygon", "coordinates": [[[w, n], [e, n], [e, s], [w, s], [w, n]]]}}
             for c, (w, s, e, n) in boxes.items()]
    (folder / "units.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))


def table_section(level: str, path: str | None = None) -> str:
    """A [reconcile.tables.<level>] section for a CSV with columns code, area_kha (1000 ha)."""
    return (f'[reconcile.tables.{level}]\npath = "{path or level + ".csv"}"\ncode_field = "code"\n'
            f'area_field = "area_kha"\narea_unit = "1000ha"\nlevel = "{level}"\n')


def write_reconcile_config(folder: Path, left: float, top: float, cols: int, rows: int, res: float,
                           reconcile: str = "", tables: str = "", statistics: bool = False) -> Path:
    """folder/config.toml: output to folder/output on the EPSG:4326 grid of the inputs (cols x rows pixels of `res`
    degrees from (left, top)), inputs cropland.tif and probability.tif, units.geojson (field `code`), optionally the
    county table as [statistics], and a [reconcile] section (probability scale 1, cropland input) followed by the
    extra `reconcile` keys and the `tables` sections. Returns its path."""
    stats = ('\n[statistics]\npath = "county.csv"\ncode_field = "code"\narea_field = "area_kha"\n'
             'area_unit = "1000ha"\nlevel = "county"\n') if statistics else ""
    cfg = folder / "config.toml"
    cfg.write_text(f'''[run]
output_dir = "output"

[grid]
crs = "EPSG:4326"
bounds = [{left}, {top - rows * res}, {left + cols * res}, {top}]
resolution = {res}

[inputs.cropland]
path = "cropland.tif"

[inputs.probability]
path = "probability.tif"

[units]
path = "units.geojson"
code_field = "code"
{stats}
[reconcile]
probability = "probability"
probability_scale = 1.0
cropland = "cropland"
{reconcile}
{tables}''')
    return cfg
