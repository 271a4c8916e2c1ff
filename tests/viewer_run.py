"""A small synthetic finished run for the viewer tests, built by hand with known values (no pipeline): a
64 x 96 class map in UTM 48N (left half irrigated, right half cropland not irrigated, last 4 rows nodata),
probability, one threshold map, a water layer on a finer sub-grid, two counties (610101, 610201: cn-adcode, so two cities and one province) with a per-unit table,
three reference points (agree, disagree, not used), config.toml and manifest.json."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import box

from irrmap.core.palettes import IRRIGATION

CRS = "EPSG:32648"
ROWS, COLS, RES = 64, 96, 250.0
X0, Y0 = 500000.0, 4300000.0
TRANSFORM = from_origin(X0, Y0, RES, RES)
WATER_ORIGIN = (X0 + 40 * RES, Y0 - 10 * RES)  # the water sub-grid: 30 m pixels, 200 x 300
WATER_SHAPE, WATER_RES = (200, 300), 30.0
# (row, col) of the point centres, and (reference, map, used)
POINTS = [((10, 20), (1, 1, True)), ((12, 70), (1, 0, True)), ((62, 50), (0, 0, False))]


def class_array() -> np.ndarray:
    a = np.zeros((ROWS, COLS), np.uint8)
    a[:, : COLS // 2] = 1
    a[-4:, :] = 255
    return a


def _write(path: Path, data: np.ndarray, transform=TRANSFORM, colours=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    prof = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype, nodata=255, crs=CRS,
                transform=transform, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data, 1)
        if colours:
            dst.write_colormap(1, {k: v for k, v in colours.items()})


def make_run(root: Path, *, water: bool = True, points: bool = True) -> Path:
    """The output folder of a synthetic finished run under `root`."""
    out = root / "output"
    cls = class_array()
    _write(out / "mapping" / "class.tif", cls, colours=IRRIGATION)
    prob = np.tile(np.linspace(0, 100, COLS).astype(np.uint8), (ROWS, 1))
    prob[-4:, :] = 255
    _write(out / "mapping" / "raw" / "probability.tif", prob)
    _write(out / "training" / "threshold_sevi.tif", np.where(cls == 255, 255, 1 - cls).astype(np.uint8), colours=IRRIGATION)
    outputs = {"mapping": ["mapping/raw/probability.tif", "mapping/class.tif", "mapping/irrigated_area_by_unit.csv"],
               "training.thresholds": ["training/threshold_sevi.tif"], "evaluation": ["evaluation/report.html"]}
    if water:
        w = np.zeros(WATER_SHAPE, np.uint8)
        w[50:150, 100:200] = 1
        _write(out / "water" / "2020" / "water.tif", w, from_origin(*WATER_ORIGIN, WATER_RES, WATER_RES))
        _write(out / "water" / "reference" / "2020" / "water.tif", w, from_origin(*WATER_ORIGIN, WATER_RES, WATER_RES))
        outputs["water"] = ["water/2020/water.tif", "water/reference/2020/water.tif"]
    # two units: West (left half), East (right half)
    mid = X0 + COLS // 2 * RES
    units = gpd.GeoDataFrame({"code": ["610101", "610201"], "name": ["West County", "East County"]},
                             geometry=[box(X0, Y0 - ROWS * RES, mid, Y0), box(mid, Y0 - ROWS * RES, X0 + COLS * RES, Y0)], crs=CRS)
    root.mkdir(parents=True, exist_ok=True)
    units.to_file(root / "units.gpkg", layer="counties", driver="GPKG")
    (out / "mapping" / "irrigated_area_by_unit.csv").write_text(
        "level,code,name,irrigated_area_ha,statistic_ha,difference_ha\n"
        "county,610101,West County,100.0,80.0,20.0\ncounty,610201,East County,0.0,,\n"
        "city,610100,West City,100.0,80.0,20.0\ncity,610200,East City,0.0,50.0,-50.0\n"
        "province,610000,,100.0,,\n", encoding="utf-8")
    (out / "evaluation").mkdir(parents=True, exist_ok=True)  # the province's own table, as the evaluation writes it
    (out / "evaluation" / "statistics_province.csv").write_text("code,statistic_m2,mapped_m2,n_units\n610000,1300000.0,1000000.0,1\n")
    if points:
        to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
        lines = ["id,lon,lat,label,reference,map,used"]
        for i, ((r, c), (ref, mp, used)) in enumerate(POINTS, 1):
            lon, lat = to_ll.transform(X0 + (c + 0.5) * RES, Y0 - (r + 0.5) * RES)
            lines.append(f"{i},{lon:.9f},{lat:.9f},{ref},{ref},{mp},{used}")
        (out / "evaluation").mkdir(parents=True, exist_ok=True)
        (out / "evaluation" / "points_sampled.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        outputs["evaluation"].append("evaluation/points_sampled.csv")
    config = root / "config.toml"
    config.write_text('[run]\nname = "viewer-test"\noutput_dir = "output"\n\n[units]\npath = "units.gpkg"\nlayer = "counties"\n'
                      'code_field = "code"\nname_field = "name"\n', encoding="utf-8")
    manifest = {"config": str(config), "output_dir": str(out), "status": "complete",
                "stages": {k: {"status": "ran", "outputs": v} for k, v in outputs.items()}}
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out


def embedded_data(html: str) -> dict:
    """The viewer's embedded JSON data block."""
    start = html.index('<script id="viewer-data" type="application/json">') + len('<script id="viewer-data" type="application/json">')
    return json.loads(html[start: html.index("</script>", start)].replace("<\\/", "</"))
