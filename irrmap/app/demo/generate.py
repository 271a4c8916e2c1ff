"""`generate_demo`: write the whole demo region (inputs, config.toml, truth/) window by window."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import dask
import numpy as np
import rasterio
import xarray as xr
from rasterio.windows import Window

from irrmap.core.atomic import atomic_path, fixed_gpkg_timestamp, write_text_atomic
from irrmap.app.demo import landcover, landsat, phenology, treecover
from irrmap.app.demo.admin import admin_units, write_admin
from irrmap.app.demo.bundle import NODATA, bundle_arrays
from irrmap.app.demo.config import config_text
from irrmap.app.demo.hydrology import route
from irrmap.app.demo.landform import CLIMATE_VARS
from irrmap.app.demo.points import sample_points
from irrmap.app.demo.spec import DEFAULT_COLS, DEFAULT_ROWS, DEFAULT_SEED, DEFAULT_YEAR, DemoSpec
from irrmap.app.demo.statistics import reported_tables, truth_areas
from irrmap.app.demo.truth import DRIVER_BANDS
from irrmap.app.demo.writer import Output, write_together
from irrmap.core.progress import progress_bar
from irrmap.core.raster_write import write_raster
from irrmap.core.units import AdminUnits

log = logging.getLogger(__name__)

# output name -> path relative to OUTDIR
PATHS = {
    "dem": "inputs/dem.tif",
    "water": "inputs/water.tif",
    **{c: f"inputs/climate/{c}.tif" for c in CLIMATE_VARS},
    "landcover": "inputs/landcover_30m.tif",
    "fractions": "inputs/landcover_fractions.tif",
    **{p: f"inputs/modis/{p}.tif" for p in phenology.PRODUCTS},
    "truth_irrigated": "truth/irrigated_fraction.tif",
    "drivers": "truth/drivers.tif",
}
UNITS = {"dem": "m", "precipitation": "mm/yr", "pet": "mm/yr", "temperature": "degC", "humidity": "%", "radiation": "W m-2",
         "albedo": "1", "water": "1 = river or lake"}


def _descriptions(name: str, year: int) -> list[str]:
    if name == "fractions":
        return ["crop", "forest_grass", "urban_water_unused"]
    if name == "drivers":
        return list(DRIVER_BANDS)
    if name in phenology.PRODUCTS:
        return [f"{year}-{d:03d}" for d in phenology.DOY]
    return [name]


def generate_demo(outdir, rows: int = DEFAULT_ROWS, cols: int = DEFAULT_COLS, seed: int = DEFAULT_SEED,
                  year: int = DEFAULT_YEAR, *, chunk: int | None = None, workers: int | None = None,
                  parts: tuple[str, ...] | None = None) -> Path:
    """Generate the demo region into `outdir`; returns the path of its config.toml.

    `chunk` (pixels) and `workers` (threads) only change speed and memory, never the bytes written.
    `parts` limits the work (for benchmarks): any of "rasters", "admin", "statistics", "points", "landsat".
    """
    spec = DemoSpec(rows=rows, cols=cols, seed=seed, year=year, **({"chunk": chunk} if chunk else {}))
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    parts = parts or ("rasters", "admin", "statistics", "points", "landsat")
    timings = {}
    steps = ["routing", *parts, "config"]
    with progress_bar(total=len(steps), desc="demo", unit="step") as bar, \
            dask.config.set(scheduler="threads", num_workers=workers or None):
        t0 = time.perf_counter()
        hyd = route(spec)
        timings["routing"] = time.perf_counter() - t0
        bar.update(1)
        if "rasters" in parts:
            t0 = time.perf_counter()
            _write_main(spec, hyd, out)
            timings["rasters"] = time.perf_counter() - t0
            bar.update(1)
        gpkg = out / "inputs" / "admin.gpkg"
        if "admin" in parts:
            t0 = time.perf_counter()
            write_admin(gpkg, admin_units(spec))
            timings["admin"] = time.perf_counter() - t0
            bar.update(1)
        if "statistics" in parts:
            t0 = time.perf_counter()
            _write_statistics(spec, out, gpkg)
            timings["statistics"] = time.perf_counter() - t0
            bar.update(1)
        if "points" in parts:
            t0 = time.perf_counter()
            _write_points(spec, out)
            timings["points"] = time.perf_counter() - t0
            bar.update(1)
        if "landsat" in parts:
            t0 = time.perf_counter()
            _write_landsat(spec, out)
            timings["landsat"] = time.perf_counter() - t0
            bar.update(1)
        cfg = write_text_atomic(out / "config.toml", config_text(spec))
        write_text_atomic(out / "demo.json", json.dumps(_describe(spec, hyd), indent=2, sort_keys=True) + "\n")
        bar.update(1)
    log.info("demo timings (s): %s", {k: round(v, 2) for k, v in timings.items()})
    return cfg


def _describe(spec: DemoSpec, hyd) -> dict:
    """A deterministic description of what was generated (no timestamps: same seed, same bytes)."""
    return {
        "rows": spec.rows, "cols": spec.cols, "seed": spec.seed, "year": spec.year, "resolution_deg": 0.00225,
        "bounds": list(spec.grid.bounds), "fine_factor": spec.fine, "routing_cell_pixels": spec.coarse,
        "river_threshold_cells": hyd.threshold, "n_lakes": int(hyd.lake_id.max()),
        "landcover_classes": {str(k): v for k, v in landcover.CLASSES.items()},
        "landsat_window_col_row_width_height": _window_list(landsat.sub_window(spec)),
        "landsat_epochs": [landsat.EPOCH1_YEAR, spec.year],
    }


def _window_list(w) -> list[int]:
    return [int(w.col_off), int(w.row_off), int(w.width), int(w.height)]


def _write_main(spec: DemoSpec, hyd, out: Path) -> None:
    arrays = bundle_arrays(spec, hyd)
    outputs = []
    for name, arr in arrays.items():
        grid = spec.fine_grid if name == "landcover" else spec.grid
        tags = {"demo_seed": spec.seed, "demo_year": spec.year, "demo_layer": name}
        if name in UNITS:
            tags["units"] = UNITS[name]
        if name in phenology.PRODUCTS:
            tags.update({"scale_factor": "1" if name == "vi_quality" else "0.0001", "fill_value": phenology.FILL[name],
                         "dates_doy": ",".join(map(str, phenology.DOY))})
        if name == "landcover":
            tags["classes"] = json.dumps(landcover.CLASSES)
        cog = name not in phenology.PRODUCTS and name != "landcover"  # big inputs: tiled GeoTIFF, no overviews
        outputs.append(Output(out / PATHS[name], arr, grid, str(arr.dtype), NODATA.get(name), _descriptions(name, spec.year), tags, cog))
    write_together(outputs, desc="demo rasters")


def _write_statistics(spec: DemoSpec, out: Path, gpkg: Path) -> None:
    units = AdminUnits.read(gpkg, "code", hierarchy="cn-adcode", name_field="name", layer="counties")
    truth = truth_areas(spec, units, out / PATHS["truth_irrigated"], _crop_band(out))
    tables, noise_free = reported_tables(spec, truth)
    for level, table in tables.items():
        with atomic_path(out / "inputs" / "statistics" / f"{level}.csv") as tmp:
            table.to_csv(tmp, index=False)
    with atomic_path(out / "truth" / "statistics_truth.csv") as tmp:
        noise_free.to_csv(tmp, index=False, float_format="%.6f")


def _crop_band(out: Path) -> Path:
    """The crop-fraction band as its own file-like path (band 1 of landcover_fractions.tif)."""
    return out / PATHS["fractions"]


def _write_points(spec: DemoSpec, out: Path) -> None:
    points, truth = sample_points(spec, out / PATHS["truth_irrigated"], _crop_band(out),
                                  out / PATHS["precipitation"], out / PATHS["pet"])
    with atomic_path(out / "inputs" / "reference" / "points.gpkg") as tmp, fixed_gpkg_timestamp():
        points.to_file(tmp, layer="points", driver="GPKG")
    with atomic_path(out / "truth" / "points_truth.csv") as tmp:
        truth.to_csv(tmp, index=False, float_format="%.6f")


def _write_landsat(spec: DemoSpec, out: Path) -> None:
    win = landsat.sub_window(spec)
    k = spec.fine
    fwin = Window(int(win.col_off) * k, int(win.row_off) * k, int(win.width) * k, int(win.height) * k)
    with rasterio.open(out / PATHS["landcover"]) as src:
        fine = src.read(1, window=fwin)
    sub = spec.fine_grid.window_grid(fwin)
    res = landsat.simulate(spec, fine, fwin)

    def da(a):
        dims = ("y", "x") if a.ndim == 2 else ("band", "y", "x")
        x = xr.DataArray(a, dims=dims, coords=sub.coords())
        return x.rio.write_crs(sub.crs).rio.write_transform(sub.transform)

    for e, yr in ((1, landsat.EPOCH1_YEAR), (2, spec.year)):
        write_raster(out / "inputs" / "landsat" / f"epoch{e}_{yr}.tif", da(res[f"epoch{e}"]), nodata=landsat.NODATA, dtype="int16",
                     descriptions=list(landsat.BANDS), tags={"scale_factor": "0.0001", "year": yr, "demo_layer": "landsat"})
        write_text_atomic(out / "inputs" / "landsat" / f"epoch{e}_{yr}.json", json.dumps(landsat.scene_sidecar(e, yr), indent=2))
        write_raster(out / "truth" / "landsat" / f"water_epoch{e}_{yr}.tif", da(res[f"water_epoch{e}"]), nodata=255, dtype="uint8",
                     descriptions=["water"], tags={"year": yr})
        write_raster(out / "truth" / "landsat" / f"treecover_epoch{e}_{yr}.tif", da(res[f"treecover_epoch{e}"]), nodata=255,
                     dtype="uint8", descriptions=["tree_cover_percent"], tags={"year": yr})
    _write_treecover(spec, out, res, win, fwin, da)


def _write_treecover(spec: DemoSpec, out: Path, res: dict, win: Window, fwin: Window, fine_da) -> None:
    """The tree-cover layer's inputs (irrmap.app.demo.treecover): the coarse reference and the NDVI series."""
    coarse = spec.grid.window_grid(win)
    ccols = np.arange(int(win.col_off), int(win.col_off + win.width))[None, :]
    crows = np.arange(int(win.row_off), int(win.row_off + win.height))[:, None]
    ref = treecover.reference(spec.seed, res["treecover_epoch2"], res["water_epoch2"].astype(bool), spec.fine, ccols, crows)
    arr = xr.DataArray(ref, dims=("y", "x"), coords=coarse.coords()).rio.write_crs(coarse.crs).rio.write_transform(coarse.transform)
    write_raster(out / "inputs" / "treecover" / f"reference_{spec.year}.tif", arr, nodata=255, dtype="uint8",
                 descriptions=["tree_cover_percent"], tags={"year": spec.year, "demo_layer": "treecover reference (MODIS VCF-like)",
                                                            "flags": f"{treecover.VCF_WATER} water"})
    fcols = np.arange(int(fwin.col_off), int(fwin.col_off + fwin.width))[None, :]
    frows = np.arange(int(fwin.row_off), int(fwin.row_off + fwin.height))[:, None]
    years = treecover.series_years(landsat.EPOCH1_YEAR, spec.year)
    series = treecover.ndvi_series(spec.seed, res["treecover_epoch1"], res["treecover_epoch2"], res["water_epoch2"].astype(bool), years,
                                   fcols, frows)
    write_raster(out / "inputs" / "treecover" / "ndvi_series.tif", fine_da(series), nodata=treecover.NODATA, dtype="int16",
                 descriptions=[f"{y}-07-01" for y in years], tags={"scale_factor": "0.0001", "demo_layer": "NDVI series"})
