"""The main streaming pass: one window's landscape, fine land cover, cover fractions, MODIS year and truth,
computed once per window and handed out as the blocks of many lazy arrays (one per output file)."""

from __future__ import annotations

import dask.array as da
import numpy as np
from dask.base import tokenize
from rasterio.windows import Window

from irrmap.app.demo import landcover, phenology
from irrmap.app.demo.hydrology import Hydrology
from irrmap.app.demo.landform import CLIMATE_VARS, WATER_NODATA
from irrmap.app.demo.spec import DemoSpec
from irrmap.app.demo.truth import DRIVER_BANDS, landscape


def window_bundle(spec: DemoSpec, hyd: Hydrology, window) -> dict[str, np.ndarray]:
    """Every per-window output of the main pass, keyed by output name."""
    L = landscape(spec, hyd, window)
    fine = landcover.fine_block(spec, hyd, L, window)
    frac = landcover.class_fractions(fine, spec.fine)
    fd = dict(zip(landcover.ORDER, frac))
    groups = np.stack([sum(fd[c] for c in landcover.GROUPS[g]) for g in ("crop", "forest_grass", "other")]).astype(np.float32)
    out = {
        "dem": L["dem"].astype(np.float32),
        "water": L["water"].astype(np.uint8),
        **{k: L[k].astype(np.float32) for k in CLIMATE_VARS},
        "landcover": fine,
        "fractions": groups,
        "truth_irrigated": (fd[landcover.CROP] * L["irrigated_share"]).astype(np.float32),
        "drivers": np.stack([L[k] for k in DRIVER_BANDS]).astype(np.float32),
    }
    out.update(phenology.simulate(spec, L, frac, window))
    return out


def _pick(bundle, key):
    return bundle[key]


def bundle_arrays(spec: DemoSpec, hyd: Hydrology, chunk: int | None = None) -> dict[str, da.Array]:
    """Lazy arrays of every main-pass output sharing one bundle task per window."""
    grid = spec.grid
    chunk = chunk or spec.chunk
    rchunks = da.core.normalize_chunks((chunk, chunk), grid.shape)
    token = tokenize(spec, chunk, hyd.seg.tobytes(), hyd.lake_level.tobytes())
    bname = f"demo-bundle-{token}"
    dsk = {}
    roff = np.cumsum((0,) + rchunks[0])
    coff = np.cumsum((0,) + rchunks[1])
    for i in range(len(rchunks[0])):
        for j in range(len(rchunks[1])):
            w = Window(int(coff[j]), int(roff[i]), rchunks[1][j], rchunks[0][i])
            dsk[(bname, i, j)] = (window_bundle, spec, hyd, w)
    k = spec.fine
    specs = {  # name: (bands or None, dtype, factor)
        "dem": (None, "float32", 1), "water": (None, "uint8", 1),
        **{c: (None, "float32", 1) for c in CLIMATE_VARS},
        "landcover": (None, "uint8", k), "fractions": (3, "float32", 1), "truth_irrigated": (None, "float32", 1),
        "drivers": (len(DRIVER_BANDS), "float32", 1),
        **{p: (phenology.N_DATES, phenology.DTYPE[p], 1) for p in phenology.PRODUCTS},
    }
    arrays = {}
    for name, (nb, dtype, f) in specs.items():
        aname = f"demo-{name}-{token}"
        adsk = dict(dsk)
        for i in range(len(rchunks[0])):
            for j in range(len(rchunks[1])):
                key = (aname, i, j) if nb is None else (aname, 0, i, j)
                adsk[key] = (_pick, (bname, i, j), name)
        chunks = tuple(tuple(c * f for c in cs) for cs in rchunks)
        if nb is not None:
            chunks = ((nb,), *chunks)
        arrays[name] = da.Array(adsk, aname, chunks, dtype=np.dtype(dtype))
    return arrays


NODATA = {"water": WATER_NODATA, "landcover": landcover.NODATA, **phenology.FILL}
