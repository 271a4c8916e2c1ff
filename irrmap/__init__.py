"""irrmap: 250 m irrigated-cropland mapping (the CIrrMap250 method) with water-body and tree-cover layers.

Layout (imports flow one way, core <- stages <- shell; see the README's architecture section):

- `irrmap.core`: the shared core: Grid and true pixel areas, raster read/write, admin units, statistics,
  config, nodata rules, errors.
- `irrmap.sources`: sensor and product decoders: MODIS presets and QA bits, Landsat and Sentinel-2 scene readers
  (`read_scene`), scene stacks, and the Earth Engine source (`irrmap.sources.ee`); see docs/sources.md.
- stage packages `irrmap.suitability`, `irrmap.training`, `irrmap.models`, `irrmap.mapping`,
  `irrmap.evaluation` (the repository's top-level folders of the same names); they import only the core.
- `irrmap.app`: the application shell: CLI, pipeline runner, one module per stage, the demo region.

The names below are the entry points an analyst uses from Python. They are loaded on first use, so
`import irrmap` stays cheap:

    import irrmap
    manifest = irrmap.run("demo_out/config.toml")          # the whole pipeline, resumable
    grid = irrmap.Grid.from_bounds(...)                      # a grid with true pixel areas
    dem = irrmap.read_raster("dem.tif", grid)                # any GDAL raster, lazily aligned
    slope = irrmap.slope(dem, percent=True)                  # a stage function: DataArray in, DataArray out
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> (module, attribute)
_API = {
    "run": ("irrmap.app.api", "run"),
    "check": ("irrmap.app.api", "check"),
    "generate_demo": ("irrmap.app.demo", "generate_demo"),
    "load_config": ("irrmap.core.config", "load_config"),
    "Grid": ("irrmap.core.grid", "Grid"),
    "read_raster": ("irrmap.core.raster_read", "read_raster"),
    "write_raster": ("irrmap.core.raster_write", "write_raster"),
    "AdminUnits": ("irrmap.core.units", "AdminUnits"),
    "read_statistics": ("irrmap.core.statistics", "read_statistics"),
    "IrrmapError": ("irrmap.core.errors", "IrrmapError"),
    # stage functions
    "slope": ("irrmap.suitability.slope", "slope"),
    "distance_to_water": ("irrmap.suitability.distance", "distance_to_water"),
    "aridity_index": ("irrmap.suitability.aridity", "aridity_index"),
    "reclassify": ("irrmap.suitability.reclass", "reclassify"),
    "weighted_overlay": ("irrmap.suitability.overlay", "weighted_overlay"),
    "read_timeseries": ("irrmap.training.timeseries", "read_timeseries"),
    "annual_statistics": ("irrmap.training.composites", "annual_statistics"),
    "split_scores": ("irrmap.training.intermediate_maps", "split_scores"),
    "sample_pool": ("irrmap.training.pool", "sample_pool"),
    "fit_from_pool": ("irrmap.models.fit", "fit_from_pool"),
    "predict_to_files": ("irrmap.mapping.predict", "predict_to_files"),
    "accuracy": ("irrmap.evaluation.confusion", "accuracy"),
    "olofsson": ("irrmap.evaluation.area_estimation", "olofsson"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'irrmap' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
