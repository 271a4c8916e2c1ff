"""Predictors of percent tree cover: a stack of named reflectance bands, spectral indices and per-pixel
percentiles over dates, on the bands' own grid or averaged onto a coarser reference grid.

The stack: one file per spectral band (`--bands B1.tif B2.tif ...`), in a fixed order; a file's layers are
dates of that band (every file the same number). Or one scene stack (irrmap.sources.stack: the water layer's
analysis-ready scenes, one multi-band GeoTIFF whose band descriptions are common band names): its layers
named blue, green, red, nir, swir1, swir2 or thermal are the bands, one date, in the file's order (others,
such as a QA band, are left out). Every band file must lie on the first file's grid, or on a coarser or finer
lattice whose pixel edges meet it (Sentinel-2's 20 m bands beside 10 m ones; else InputError: `_check_band_grids`),
and is read onto the first file's grid (irrmap.core.raster_read). Band names are the common names of
irrmap.sources.bands (blue, green, red, nir, swir1, swir2, thermal), found in this order: the caller's list
(`--band-names`); the file's band description when it is a common name (single-layer files); the band
number in the description or file name (..._B4.tif, gewataB4, SR_B5) looked up in that catalogue for a given
sensor (`--sensor LT05`). Bands without a name enter the model under their description or file name, and the
indices that need them are left out (with a warning).

Features, in order: the bands, then the indices that their names allow (normalised differences,
(a - b) / (a + b), NaN where a + b = 0):
- NDVI = (nir - red) / (nir + red) (Rouse et al. 1974);
- NBR = (nir - swir2) / (nir + swir2) (Key and Benson 2006);
- NDMI = (nir - swir1) / (nir + swir1) (Gao 1996's NDWI, as named by Wilson and Sader 2002).
With several dates each of these becomes its per-pixel percentiles over the dates (numpy's linear
interpolation, missing dates skipped; default 10, 50, 90 as in Hansen et al. 2013's annual metrics), named
`NAME_pQ`. A pixel is missing (NaN) where any feature is.

Aggregation (`features_on`, `onto_grid`): the features are computed at the bands' resolution and then
averaged onto the target grid (GDAL's area-weighted average, through read_raster kind "continuous"), so a
coarse cell sees the mean of the fine-scale features the model will meet at prediction; `coverage` is the
share of the cell's area with every feature valid.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from irrmap.core.errors import GridError, InputError
from irrmap.core.grid import Grid
from irrmap.core.layers import data_bands
from irrmap.core.raster_read import open_raster, read_raster
from irrmap.core.raster_write import write_raster
from irrmap.mapping.treecover.blocks import ground_pixel_m, ground_pixel_range
from irrmap.sources.bands import CATALOGUE, COMMON, FAMILY, family

log = logging.getLogger(__name__)

INDICES = {"ndvi": ("nir", "red"), "nbr": ("nir", "swir2"), "ndmi": ("nir", "swir1")}  # (a - b) / (a + b)
PERCENTILES = (10, 50, 90)
_BAND_ID = re.compile(r"(?i)(?:band|b)_?(\d{1,2}a?)(?![0-9a-z])")


@dataclass(frozen=True)
class BandStack:
    """The band files of one model input, in order.

    grid: the first file's grid (every band is read onto it). names: common name per band or None.
    descriptions: each single-layer file's band description ("" when none or several layers). layers: for
    a scene stack, each band's layer in the one file (`paths` then repeats the file), else None. file_keys:
    the part of each file name that differs between the files (the whole stem for one file). n_dates:
    layers per file. percentiles: taken over the dates when there are several. fitted_labels: the labels
    of the bands a model was fitted on, once `check_same_bands` matched them to these files. sensor: the
    --sensor given, else the one sensor code the files' Landsat ids name, else None.
    """

    paths: tuple[str, ...]
    grid: Grid
    names: tuple[str | None, ...]
    descriptions: tuple[str, ...]
    file_keys: tuple[str, ...]
    n_dates: int
    percentiles: tuple[float, ...] = PERCENTILES
    fitted_labels: tuple[str, ...] | None = None
    layers: tuple[int, ...] | None = None
    data_layers: tuple[tuple[int, ...], ...] | None = None
    sensor: str | None = None

    def layer(self, i: int, date: int) -> int:
        """The layer (1-based) of band `i` (0-based) at date `date` (1-based) in its file: the date-th data layer
        (an alpha band is a mask, not a date: `data_layers`, each file's data layers, None when every band is
        one), or for a scene stack the band's own layer."""
        if self.layers is not None:
            return self.layers[i]
        return self.data_layers[i][date - 1] if self.data_layers is not None else date

    @property
    def labels(self) -> list[str]:
        """Each band's feature name: its common name, else its description, else its file name (the fit's
        labels once matched to a model)."""
        if self.fitted_labels is not None:
            return list(self.fitted_labels)
        return [n or d or Path(p).stem for n, d, p in zip(self.names, self.descriptions, self.paths)]

    @property
    def indices(self) -> list[str]:
        """The indices the named bands allow, in INDICES order."""
        return available_indices(self.names)

    @property
    def features(self) -> list[str]:
        """Feature names in model order: bands then indices, or their percentiles over several dates."""
        base = self.labels + self.indices
        if self.n_dates == 1:
            return base
        return [f"{b}_p{q:g}" for b in base for q in self.percentiles]

    def identity(self) -> dict:
        """What identifies the bands and their order (stored in the model card)."""
        return {"files": [Path(p).name for p in self.paths], "layers": list(self.layers or []), "names": list(self.names), "descriptions": list(self.descriptions),
                "file_keys": list(self.file_keys), "labels": self.labels, "dates": self.n_dates, "percentiles": list(self.percentiles),
                "sensor": self.sensor}

    def read(self, chunks: int) -> da.Array:
        """(n_bands, n_dates, height, width) float32 dask array on `grid`, NaN where missing (and where a file's
        alpha band is 0: read_raster applies it, irrmap.core.nodata)."""
        layers = []
        for i, p in enumerate(self.paths):
            layers.append([read_raster(p, self.grid, band=self.layer(i, k), chunks=chunks).data for k in range(1, self.n_dates + 1)])
        return da.stack([da.stack(bands) for bands in layers])

    def feature_array(self, chunks: int) -> da.Array:
        """(n_features, height, width) float32 dask array of the features on `grid`."""
        bands = self.read(chunks).rechunk({0: -1, 1: -1})
        return da.map_blocks(compute_features, bands, self.names, self.percentiles, drop_axis=1,
                             chunks=((len(self.features),),) + bands.chunks[2:], dtype=np.float32,
                             meta=np.empty((0, 0, 0), np.float32))


def available_indices(names) -> list[str]:
    """The indices of INDICES whose two bands are among `names`, in INDICES order."""
    return [k for k, (a, b) in INDICES.items() if a in names and b in names]


def compute_features(block: np.ndarray, names, percentiles=PERCENTILES) -> np.ndarray:
    """(n_features, h, w) float32 features of a (n_bands, n_dates, h, w) block of band values; `names` gives
    each band's common name or None (see the module docstring for the order)."""
    block = np.asarray(block, np.float32)
    names = list(names)
    base = [block[i] for i in range(block.shape[0])]
    with np.errstate(divide="ignore", invalid="ignore"):
        for a, b in (INDICES[k] for k in available_indices(names)):
            x, y = block[names.index(a)], block[names.index(b)]
            total = x + y
            base.append(np.where(total != 0, (x - y) / total, np.nan).astype(np.float32))
    stack = np.stack(base)  # (n_base, n_dates, h, w)
    if stack.shape[1] == 1:
        return stack[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all dates missing: NaN, as wanted
        q = np.nanpercentile(stack, list(percentiles), axis=1)  # (n_q, n_base, h, w)
    return np.ascontiguousarray(q.transpose(1, 0, 2, 3).reshape((-1,) + stack.shape[2:]), dtype=np.float32)


# ---- opening and naming --------------------------------------------------------------------------------
def open_stack(paths, *, band_names=None, sensor: str | None = None, percentiles=PERCENTILES, warn_indices: bool = True) -> BandStack:
    """A BandStack of the files `paths` (one spectral band each; several layers = dates).

    warn_indices: warn when the names leave indices out (for a fit; False for bands a model predicts from,
    which take the model's names: check_same_bands).

    band_names: the common name of each file, in order (irrmap.sources.bands.COMMON). sensor: a sensor code of
    irrmap.sources.bands (LT05, LE07, LC08, S2A, ...) whose catalogue names bands by the band number in their
    description or file name. Raises InputError for no files, a name outside the catalogue or given twice,
    a wrong count of names, files with different numbers of layers, a file of several undated layers whose band
    nothing names (a band stack: `_refuse_band_stacks`), or a `sensor` whose instrument family
    contradicts the Landsat product or scene id a file name starts with (`_check_sensor`).
    """
    paths = tuple(os.fspath(p) for p in paths)
    if not paths:
        raise InputError("no band files given", "--bands", "give one file per band, e.g. --bands B1.tif B2.tif B3.tif")
    if len(paths) == 1:
        stack = _scene_stack(paths[0], band_names, percentiles, warn_indices)
        if stack is not None:
            return stack
    counts, descriptions, data_layers, layer_texts = [], [], [], []
    for p in paths:
        with open_raster(p) as src:
            data = data_bands(src)  # an alpha band is the file's mask (applied by `read`), not a date
            data_layers.append(tuple(data))
            counts.append(len(data))
            descriptions.append((src.descriptions[data[0] - 1] or "").strip() if len(data) == 1 else "")
            layer_texts.append([(src.descriptions[k - 1] or "").strip() for k in data])
    if len(set(counts)) > 1:
        listing = ", ".join(f"{Path(p).name}: {c}" for p, c in zip(paths, counts))
        raise InputError(f"band files hold different numbers of layers (dates): {listing}", "--bands",
                         "give every band for the same dates, one layer per date")
    grid = Grid.from_raster(paths[0])
    _check_band_grids(paths, grid)
    if sensor is not None:
        _check_sensor(paths, sensor)
    names = _band_names(paths, descriptions, band_names, sensor)
    if band_names is None:
        _refuse_band_stacks(paths, layer_texts, names, sensor)
    stack = BandStack(paths, grid, names, tuple(descriptions), _file_keys(paths), counts[0], _checked_percentiles(percentiles),
                      data_layers=tuple(data_layers), sensor=sensor or _named_sensor(paths))
    if warn_indices:
        _warn_missing_indices(stack)
    return stack


def _same_crs(a, b) -> bool:
    """One CRS, equal or spelt another way: the same EPSG code or the same definition string."""
    return a == b or a.to_string() == b.to_string() or (a.to_epsg() is not None and a.to_epsg() == b.to_epsg())


def _nested_lattice(other: Grid, grid: Grid) -> bool:
    """Whether `other` (same CRS as `grid`) is a coarser or finer grid whose pixel edges lie on `grid`'s lattice or
    `grid`'s on its: pixel sizes in a whole-number ratio and the origin a whole number of the finer pixels off, within
    1e-6 of a pixel (Sentinel-2's 20 m bands beside its 10 m bands, ESA S2 MSI User Guide: one tile grid at 10, 20 and
    60 m). Such a band is read onto the first band's grid by whole pixels (nearest), as before; only a band whose edges
    fall between the first band's is refused."""
    if other.crs != grid.crs:
        return False
    (ox, oy), (gx, gy) = other.res, grid.res
    fx, fy = min(ox, gx), min(oy, gy)
    for big, small in ((max(ox, gx), fx), (max(oy, gy), fy)):
        k = big / small
        if abs(k - round(k)) > 1e-6:
            return False
    col = (other.transform.c - grid.transform.c) / fx
    row = (other.transform.f - grid.transform.f) / fy
    return abs(col - round(col)) <= 1e-6 and abs(row - round(row)) <= 1e-6


def _check_band_grids(paths, grid: Grid) -> None:
    """InputError naming the first band file that is not on the first file's grid `grid` (CRS, size, origin and pixel
    size: Grid.aligned_with; what differs: Grid.mismatch_text). The bands of one scene share one grid; read onto the
    first file's grid, a band half a pixel off would be resampled (a Gewata TM band 4 shifted by 15 m moved the
    predicted cover by 1.05 points on average, up to 19) and its features would no longer describe the same ground."""
    for p in paths[1:]:
        other = Grid.from_raster(p)
        if _same_crs(other.crs, grid.crs):  # one CRS spelt two ways (EPSG:32636, +proj=utm +zone=36): compare the pixels
            other = Grid(grid.crs, other.transform, other.height, other.width)
        if not other.aligned_with(grid) and not _nested_lattice(other, grid):
            raise InputError(f"band file {Path(p).name} is not on the grid of the first band {Path(paths[0]).name} "
                             f"({other.mismatch_text(grid)}): the bands of one scene share one grid", p,
                             "give the bands of one product, or resample them onto one grid first (gdalwarp -r near -te <the first "
                             "band's bounds> -tr <its pixel size> -t_srs <its CRS>)")


def _refuse_band_stacks(paths, layer_texts, names, sensor: str | None) -> None:
    """InputError for a band file whose several layers carry no date in their descriptions (dates.parse_layer_date) and
    whose band nothing names (no --band-names; no band number of `sensor` in its file name): such a file looks like a
    stack of spectral bands (gdal_merge.py -separate B1 B2 B3 ...), and read as dates of one band its blue..swir2 would
    become percentiles "over dates" of one unnamed feature. Dated layers, a band the file name numbers under --sensor
    (..._B4.tif) or --band-names declare the layers dates of one band and pass."""
    from irrmap.mapping.treecover.dates import parse_layer_date

    def dated(text: str) -> bool:
        try:
            return bool(text) and parse_layer_date(text) is not None
        except InputError:
            return False

    for p, texts, name in zip(paths, layer_texts, names):
        if len(texts) < 2 or name is not None or any(dated(t) for t in texts):
            continue
        why = (f"--sensor {sensor} names bands by their number in the file name, and {Path(p).name} names none" if sensor else
               "no --band-names or --sensor names its band")
        n = len(texts)
        raise InputError(f"{Path(p).name} holds {n} undated layers and {why}: it looks like a stack of {n} spectral bands, which "
                         f"would be read as {n} dates of one band (percentiles across the bands)", p,
                         f"give one file per band (gdal_translate -b N {Path(p).name} B_N.tif for N = 1..{n}, then --bands B_1.tif ... "
                         f"B_{n}.tif with --band-names or --sensor); or, if the layers are dates of one band, put their dates in the band "
                         "descriptions (e.g. 2005-07-01, or Landsat scene ids) or name the band with --band-names")


def _scene_stack(path: str, band_names, percentiles, warn_indices: bool = True) -> BandStack | None:
    """The BandStack of a scene stack (one file, at least two layers described by distinct common band
    names), or None for any other file."""
    with open_raster(path) as src:
        described = [((d or "").strip().lower(), k) for k, d in enumerate(src.descriptions, start=1)]
    named = [(d, k) for d, k in described if d in COMMON]
    if src.count < 2 or len(named) < 2 or len({d for d, _ in named}) < len(named):
        return None
    if band_names is not None:
        raise InputError(f"{Path(path).name} is a scene stack whose band descriptions name its bands ({', '.join(d for d, _ in named)})",
                         "--band-names", "leave --band-names out for a scene stack")
    n = len(named)
    stack = BandStack((path,) * n, Grid.from_raster(path), tuple(d for d, _ in named), tuple(d for d, _ in named), (Path(path).stem,) * n,
                      1, _checked_percentiles(percentiles), layers=tuple(k for _, k in named))
    if warn_indices:
        _warn_missing_indices(stack)
    return stack


def _check_sensor(paths, sensor: str) -> None:
    """InputError when a file name starts with a Landsat product or scene id (irrmap.sources.landsat.file_identity)
    of another instrument family than `sensor` (irrmap.sources.bands.FAMILY): its band numbers would be looked up in
    the wrong catalogue (OLI band 1 is coastal aerosol, TM band 1 blue). Another sensor of the same family (LT04 for
    LT05 files, LC09 for LC08) names the same bands and is only warned about."""
    from irrmap.sources.landsat import file_identity

    want = family(sensor)
    for p in paths:
        ident = file_identity(Path(p).name)
        if ident is None or ident[0] == sensor:
            continue
        said = ident[0]
        if FAMILY.get(said) != want:
            raise InputError(f"--sensor {sensor} ({want} band numbers) contradicts the file name, which says {said} "
                             f"({FAMILY.get(said, 'unsupported')} band numbers): its bands would be named after another sensor's "
                             "band numbers", p, f"pass --sensor {said} (or leave --sensor out and name the bands with --band-names)")
        log.warning("%s: the file name says %s, --sensor says %s (both %s: the same band numbers) (fix: pass --sensor %s)",
                    p, said, sensor, want, said)


def _named_sensor(paths) -> str | None:
    """The one sensor code that the Landsat ids starting every file name say, else None."""
    from irrmap.sources.landsat import file_identity

    said = {(file_identity(Path(p).name) or (None,))[0] for p in paths}
    return said.pop() if len(said) == 1 and None not in said else None


def _checked_percentiles(percentiles) -> tuple[float, ...]:
    pct = tuple(float(q) for q in percentiles)
    if not pct or any(not 0 <= q <= 100 for q in pct):
        raise InputError(f"percentiles {list(percentiles)} must lie in 0..100", "--percentiles", "e.g. 10,50,90")
    return pct


def _band_names(paths, descriptions, band_names, sensor) -> tuple[str | None, ...]:
    if band_names is not None:
        names = [str(n).strip().lower() for n in band_names]
        if len(names) != len(paths):
            raise InputError(f"{len(names)} band names for {len(paths)} band files", "--band-names", "give one name per --bands file, in order")
        bad = [n for n in names if n not in COMMON]
        if bad:
            raise InputError(f"unknown band name(s) {bad}", "--band-names", f"use common names: {', '.join(COMMON)}")
    else:
        by_id = {_norm_id(v): k for k, v in CATALOGUE[family(sensor)].items()} if sensor is not None else {}
        names = [d.lower() if d.lower() in COMMON else _catalogued(by_id, d, Path(p).stem) for p, d in zip(paths, descriptions)]
    twice = sorted({n for n in names if n is not None and names.count(n) > 1})
    if twice:
        raise InputError(f"band name(s) {twice} given to several files", "--band-names", "name each band once")
    return tuple(names)


def _catalogued(by_id: dict, *texts: str) -> str | None:
    """The common name of the last band number found in the first of `texts` that holds a catalogued one."""
    for text in texts:
        ids = _BAND_ID.findall(text)
        if ids and _norm_id(ids[-1]) in by_id:
            return by_id[_norm_id(ids[-1])]
    return None


def _norm_id(band_id: str) -> str:
    """A catalogue band id or one found in a name, compared as a plain number ("B04" -> "4", "8A" -> "8a")."""
    m = re.fullmatch(r"(?i)b?0*(\d+)(a?)(?:_vcid_\d)?", band_id)
    return f"{int(m.group(1))}{m.group(2).lower()}" if m else band_id.lower()


def _file_keys(paths) -> tuple[str, ...]:
    """The part of each file stem that differs between the files (common prefix and suffix removed)."""
    stems = [Path(p).stem for p in paths]
    if len(stems) < 2 or len(set(stems)) < len(stems):
        return tuple(stems)
    pre = os.path.commonprefix(stems)
    suf = os.path.commonprefix([s[len(pre):][::-1] for s in stems])[::-1]
    return tuple(s[len(pre):len(s) - len(suf)] or s for s in stems)


def _warn_missing_indices(stack: BandStack) -> None:
    missing = [k for k in INDICES if k not in stack.indices]
    if not missing:
        return
    lacking = sorted({b for k in missing for b in INDICES[k] if b not in stack.names})
    log.warning("indices %s are left out: no band is named %s (names found: %s); fix: name the bands with --band-names "
                "(e.g. blue,green,red,nir,swir1,swir2) or --sensor (e.g. LT05, LC08) when the band number is in the file names",
                ", ".join(m.upper() for m in missing), ", ".join(lacking), ", ".join(stack.labels))


def check_same_bands(fitted: dict, stack: BandStack) -> BandStack:
    """Refuse bands that differ from the fit's (`fitted`: BandStack.identity() stored in the model card) in
    number, dates or order; returns the stack with the fit's names, labels and percentiles.

    Compared, in this order, by the first property known for every band on both sides: common names, band
    descriptions, the distinctive part of the file names. Names (given with --band-names or --sensor) that match are
    still checked against the files' own evidence: descriptions or file names that are the fit's in another order
    are refused (`_check_file_evidence`). Raises InputError (one line) on a difference.
    """
    want_n, got_n = len(fitted["files"]), len(stack.paths)
    fix = (f"give the fit's bands in its order ({', '.join(_show(fitted))}); name them with --band-names or --sensor "
           "when descriptions and file names differ from the fit's")
    if want_n != got_n:
        raise InputError(f"{got_n} band files given, the model was fitted on {want_n}", "--bands", fix)
    if (fitted["dates"] > 1) != (stack.n_dates > 1):
        raise InputError(f"band files hold {stack.n_dates} date(s), the model was fitted on {fitted['dates']} "
                         f"({'percentiles over dates' if fitted['dates'] > 1 else 'single-date values'})", "--bands",
                         "give single-date bands to a single-date model, a series of dates to a percentile model")
    got = stack.identity()
    matched_by = "their order"
    for kind, label in (("names", "band names"), ("descriptions", "band descriptions"), ("file_keys", "file names")):
        want, have = fitted[kind], got[kind]
        if all(want) and all(have):
            if [str(w).casefold() for w in want] != [str(h).casefold() for h in have]:
                raise InputError(f"bands differ from the model's by {label}: got {have}, the model wants {want}", "--bands", fix)
            matched_by = label
            if kind != "names":
                _check_numbering(fitted, _named_sensor(stack.paths), label, fix)
            if kind == "names":
                _check_file_evidence(fitted, got, fix)
            break
    given = [(h, w) for h, w in zip(stack.names, fitted["names"]) if h is not None and h != w]
    if given:  # names from --band-names / --sensor that the fit's names override: say so, they do not count
        log.warning("the bands were matched to the model's by %s; the names given here (%s) differ from the model's (%s) and are not "
                    "used: the model's names and indices (%s) are (fix: leave --band-names / --sensor out at predict, or give the fit's)",
                    matched_by, ", ".join(str(n) for n in stack.names), ", ".join(str(n) for n in fitted["names"]),
                    ", ".join(available_indices(fitted["names"])) or "none")
    return replace(stack, names=tuple(fitted["names"]), percentiles=tuple(fitted["percentiles"]), fitted_labels=tuple(fitted["labels"]))


def _check_numbering(fitted: dict, have: str | None, label: str, fix: str) -> None:
    """InputError when bands matched by their descriptions or file names (band numbers) are files whose Landsat ids say
    `have`, of another instrument family than the fit's sensor (BandStack.sensor, stored in cards since it was added):
    TM band 1 is blue, OLI band 1 coastal aerosol, so equal numbers are other bands. A --sensor given at predict is no
    evidence here (the model's names replace it); unknown sensors pass."""
    want = fitted.get("sensor")
    if not want or not have or FAMILY.get(want) == FAMILY.get(have):
        return
    raise InputError(f"the bands match the model's by {label}, but they are {have} files ({FAMILY.get(have)} band numbers) and the model "
                     f"was fitted on {want} ({FAMILY.get(want)} band numbers): the same numbers are other bands", "--bands",
                     f"name the bands with --band-names (e.g. blue,green,red,nir,swir1,swir2), or --sensor {have}; {fix}")


def _check_file_evidence(fitted: dict, got: dict, fix: str) -> None:
    """InputError when the files' own evidence contradicts names that match the fit's: their band descriptions or the
    distinctive parts of their file names are the fit's, every one of them, but in another order (NIR and SWIR1 files
    swapped under --band-names blue,green,red,nir,swir1,swir2). Evidence that is not a reordering of the fit's (other
    files, no descriptions) says nothing and passes."""
    for kind, label in (("descriptions", "band descriptions"), ("file_keys", "file names")):
        want, have = [str(w).casefold() for w in fitted[kind]], [str(h).casefold() for h in got[kind]]
        if not (all(want) and all(have)) or len(set(want)) < len(want) or sorted(want) != sorted(have) or want == have:
            continue
        moved = [f"{got['files'][i]} ({got[kind][i]}) is given as {got['names'][i]}, but the fit's {got['names'][i]} was "
                 f"{fitted['files'][i]} ({fitted[kind][i]})" for i in range(len(want)) if want[i] != have[i]]
        raise InputError(f"the band names given match the model's, but the files' {label} say they are the fit's bands in another "
                         f"order: {'; '.join(moved)}", "--band-names", fix)


def _show(identity: dict) -> list[str]:
    return list(identity["labels"])


# ---- the grid of the fit and aggregation onto it -------------------------------------------------------
def fit_grid(bands: Grid, reference, resolution_m: float | None = None) -> Grid:
    """The grid the model is fitted on, covering the bands' overlap with the reference raster.

    Without `resolution_m`: the reference's own grid, cut to the window holding the bands' footprint. With
    it: cells of that size in metres on the ground, in the bands' CRS, anchored at the bands' top-left corner.
    Each axis's step is the resolution over the true ground spacing of the bands' centre pixel
    (mapping.treecover.blocks.ground_pixel_m), times the pixel size: on a projected grid in metres (UTM) that
    is the resolution itself; on a geographic grid the cells are narrower in degrees of latitude than of
    longitude away from the equator (a warning names the spread of true cell widths when it exceeds 2 %).
    Steps within 1e-6 of a whole number of band pixels are made whole, so cells are blocks of band pixels.
    Raises GridError when the two do not overlap, or for a resolution finer than the bands' pixels. Without
    `resolution_m`, warns when the reference lies a fraction of a band pixel off the bands' lattice (_warn_off_lattice).
    """
    ref = Grid.from_raster(reference)
    no_overlap = GridError(f"the bands ({bands!r}) do not overlap the reference ({ref!r})", str(reference),
                           "give a reference that covers the bands' area")
    if resolution_m is None:
        _warn_off_lattice(ref, bands, reference)  # the fit grid is the reference's own: its lattice meets the bands'
        window = window_over(ref, bands)
        if window is None:
            raise no_overlap
        return ref.window_grid(window)
    east_m, north_m = ground_pixel_m(bands)
    ratios = [resolution_m / east_m, resolution_m / north_m]  # band pixels per cell, per axis
    if min(ratios) < 1 - 1e-9:
        raise GridError(f"--reference-resolution {resolution_m:g} m is finer than the bands' pixels ({east_m:.4g} x {north_m:.4g} m on "
                        "the ground)", "--reference-resolution", "give a resolution at least the bands' pixel size (e.g. 240 for 8 x 8 "
                        "Landsat pixels)")
    ratios = [round(r) if abs(r - round(r)) < 1e-6 else r for r in ratios]
    sx, sy = ratios[0] * bands.res[0], ratios[1] * bands.res[1]  # CRS units
    lo, hi = ground_pixel_range(bands)
    if hi > lo * 1.02:
        log.warning("cells of %g m at the bands' centre are %.4g..%.4g m wide on the ground across the grid (the pixels' ground width "
                    "changes with latitude); fix: reproject the bands to an equal-distance projection (gdalwarp -t_srs EPSG:326NN) for "
                    "cells of one size", resolution_m, resolution_m * lo / east_m, resolution_m * hi / east_m)
    rl, rb, rr, rt = transform_bounds(ref.crs, bands.crs, *ref.bounds, densify_pts=21)
    bl, bb, br, bt = bands.bounds
    left, bottom, right, top = max(bl, rl), max(bb, rb), min(br, rr), min(bt, rt)
    if right <= left or top <= bottom:
        raise no_overlap
    x0 = bl + math.floor((left - bl) / sx + 1e-9) * sx
    y0 = bt - math.floor((bt - top) / sy + 1e-9) * sy
    width = math.ceil((right - x0) / sx - 1e-9)
    height = math.ceil((y0 - bottom) / sy - 1e-9)
    return Grid(bands.crs, Affine(sx, 0.0, x0, 0.0, -sy, y0), height, width)


#: least shift, in band pixels, of the reference's lattice from the bands' that is warned about (fit_grid)
OFF_LATTICE_TOL = 0.01


def _warn_off_lattice(ref: Grid, bands: Grid, path) -> None:
    """Warn when the reference `ref` shares the bands' CRS and its pixel size is a whole number of band pixels, but its
    pixel edges fall a fraction of a band pixel (at least OFF_LATTICE_TOL) off the bands' lattice: each reference cell
    then averages parts of the band pixels at its edges, and cover and features no longer describe the same ground (a
    Gewata VCF reference shifted by half a pixel: held-out R2 0.900 -> 0.860). A reference on another CRS or a pixel
    size not a whole number of band pixels is the documented averaging and is not warned about."""
    if not _same_crs(ref.crs, bands.crs):
        return
    (rx, ry), (bx, by) = ref.res, bands.res
    kx, ky = rx / bx, ry / by
    if min(kx, ky) < 1 - 1e-9 or abs(kx - round(kx)) > 1e-6 or abs(ky - round(ky)) > 1e-6:
        return
    col = (ref.transform.c - bands.transform.c) / bands.transform.a
    row = (ref.transform.f - bands.transform.f) / bands.transform.e
    dx, dy = col - round(col), row - round(row)
    if max(abs(dx), abs(dy)) < OFF_LATTICE_TOL:
        return
    log.warning("%s: the reference's pixel edges are %+.3g, %+.3g band pixels (x, y) off the bands' lattice (reference pixel %g x %g, "
                "bands %g x %g): each reference cell averages parts of the band pixels at its edges (fix: give the reference on the "
                "bands' lattice, e.g. gdalwarp -r near -tap -tr %g %g, or fit on --reference-resolution cells, which are anchored at "
                "the bands)", path, dx, dy, rx, ry, bx, by, rx, ry)


def window_over(grid: Grid, other: Grid) -> Window | None:
    """The window of `grid` holding `other`'s footprint (whole pixels, clipped to `grid`), None if disjoint."""
    left, bottom, right, top = transform_bounds(other.crs, grid.crs, *other.bounds, densify_pts=21)
    t = grid.transform
    c0, c1 = max(0, math.floor((left - t.c) / t.a + 1e-9)), min(grid.width, math.ceil((right - t.c) / t.a - 1e-9))
    r0, r1 = max(0, math.floor((t.f - top) / -t.e + 1e-9)), min(grid.height, math.ceil((t.f - bottom) / -t.e - 1e-9))
    return Window(c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 else None


def features_on(stack: BandStack, grid: Grid, workdir, *, chunks: int = 1024) -> tuple[list[xr.DataArray], xr.DataArray]:
    """(features, coverage) on `grid`: lazy float32 DataArrays of each feature (NaN missing) and the share
    (0..1) of each cell's area where every feature is valid (`onto_grid`, through WORKDIR/features.tif)."""
    return onto_grid(stack.feature_array(chunks), stack.features, stack.grid, grid, Path(workdir) / "features.tif", chunks=chunks)


def reference_on(reference, grid: Grid, workdir, *, valid_max: float = 100.0, chunks: int = 1024) -> tuple[xr.DataArray, xr.DataArray]:
    """(reference, coverage) on `grid`: the reference's values in 0..`valid_max` (others, e.g. MODIS VCF's
    flags above 100, are missing) and the share of each cell's area where it is valid; read from the
    reference's window under `grid`, then `onto_grid` (through WORKDIR/reference.tif)."""
    ref_grid = Grid.from_raster(reference)
    window = window_over(ref_grid, grid)
    if window is None:
        raise GridError(f"the reference ({ref_grid!r}) does not overlap {grid!r}", str(reference), "give a reference that covers the bands' area")
    fine = ref_grid.window_grid(window)
    values = read_raster(reference, fine, valid_range=(0, valid_max), chunks=chunks, name="reference").data
    (avg,), share = onto_grid(values[None], ["reference"], fine, grid, Path(workdir) / "reference.tif", chunks=chunks)
    return avg, share


def onto_grid(data: da.Array, names, fine: Grid, grid: Grid, path, *, chunks: int = 1024) -> tuple[list[xr.DataArray], xr.DataArray]:
    """The layers of `data` ((n, height, width) float32 on `fine`, NaN missing) on `grid`, and the share of
    each cell's area where every layer is valid.

    When `grid` is `fine` the layers are returned as they are (share 1 or 0). Otherwise each cell gets the
    mean of the valid fine pixels under it (GDAL's area-weighted average): the layers and a validity layer
    (1 valid, 0 not) are written to `path` (tiled GeoTIFF) on `fine`'s lattice widened to cover `grid`,
    validity 0 off `fine`, so a cell reaching past the data counts the part outside as not covered; both are
    then read onto `grid` (read_raster kind "continuous").
    """
    valid = da.isfinite(data).all(axis=0).astype(np.float32)
    if grid.aligned_with(fine):
        return [_on_grid(data[i], grid, n) for i, n in enumerate(names)], _on_grid(valid, grid, "coverage")
    wide, (top, bottom, left, right) = _widened(fine, grid)
    pad = ((0, 0), (top, bottom), (left, right))
    full = da.concatenate([da.pad(data.astype(np.float32), pad, constant_values=np.nan), da.pad(valid[None], pad, constant_values=0.0)])
    full = xr.DataArray(full.rechunk((full.shape[0], chunks, chunks)), dims=("band", "y", "x"), coords=wide.coords())
    write_raster(path, full.rio.write_crs(wide.crs).rio.write_transform(wide.transform), dtype="float32",
                 descriptions=list(names) + ["valid"], cog=False)
    layers = [read_raster(path, grid, band=i + 1, chunks=chunks, name=n) for i, n in enumerate(names)]
    return layers, read_raster(path, grid, band=len(names) + 1, chunks=chunks, name="coverage")


def _widened(fine: Grid, target: Grid) -> tuple[Grid, tuple[int, int, int, int]]:
    """`fine`'s lattice widened to cover `target`'s bounds, and the pixels added (top, bottom, left, right)."""
    left, bottom, right, top = transform_bounds(target.crs, fine.crs, *target.bounds, densify_pts=21)
    t = fine.transform
    add_l = max(0, math.ceil((t.c - left) / t.a - 1e-9))
    add_t = max(0, math.ceil((top - t.f) / -t.e - 1e-9))
    add_r = max(0, math.ceil((right - (t.c + t.a * fine.width)) / t.a - 1e-9))
    add_b = max(0, math.ceil(((t.f + t.e * fine.height) - bottom) / -t.e - 1e-9))
    grid = Grid(fine.crs, t @ Affine.translation(-add_l, -add_t), fine.height + add_t + add_b, fine.width + add_l + add_r)
    return grid, (add_t, add_b, add_l, add_r)


def _on_grid(arr: da.Array, grid: Grid, name: str) -> xr.DataArray:
    out = xr.DataArray(arr, dims=("y", "x"), coords=grid.coords(), name=name)
    return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
