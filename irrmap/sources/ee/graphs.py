"""Earth Engine computation graphs of the catalogue's datasets (irrmap.sources.ee.catalog): per output, one
single-band ee.Image composited server-side, QA-masked and scaled exactly as the file source decodes the same
product, and aligned onto the run's Grid.

Alignment: the image is reprojected with crs = the Grid's CRS ("EPSG:n", or its WKT when it has no EPSG code) and
crsTransform = the Grid's affine transform [a, b, c, d, e, f] (pixel corner), so output pixel edges are the
Grid's pixel edges with no half-pixel shift. "mean"/"mode" first aggregate the finer source pixels with
reduceResolution (a composite, which Earth Engine gives a 1-degree default projection, gets the Grid's CRS at the
dataset's native_scale_m: the same for every grid cell wherever the collection's scenes lie, rather than the
projection of an arbitrary first scene); "bilinear" resamples every source image before compositing. Masked output
pixels are written as the entry's nodata (unmask with sameFootprint false) and the image is cast to its dtype.

`ee` is imported inside the functions: without earthengine-api, build_images raises ConfigError naming
`pip install 'irrmap[ee]'`.
"""

from __future__ import annotations

import math

from irrmap.core.errors import ConfigError
from irrmap.sources.ee.catalog import CASTS, QA_BANDS, EEDataset
from irrmap.sources.modis import PRESETS, QARule
from irrmap.sources.qa import (
    CLEAR,
    QA_PIXEL_BITS,
    SCL_CODES,
    WATER,
    qa_pixel_cloud_bits,
)

MAX_GI = 15.0  # GI above this is missing: METHOD.md section 1, as irrmap.training.indices.MAX_GI (a test checks they agree)
METRES_PER_DEGREE = 111_320.0  # one degree of longitude at the equator (WGS84 equatorial circumference / 360), its longest


def ee_module():
    """The earthengine-api module; ConfigError naming the extra when it is not installed."""
    try:
        import ee
    except ImportError:
        raise ConfigError("earthengine-api is not installed", "sources.ee", "pip install 'irrmap[ee]'") from None
    return ee


def grid_crs(grid) -> str:
    """The Grid's CRS as Earth Engine takes it: "EPSG:n" when it has an EPSG code, else its WKT."""
    epsg = grid.crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else grid.crs.to_wkt()


def crs_transform(grid) -> list[float]:
    """The Grid's affine transform [a, b, c, d, e, f] (x = a col + b row + c, y = d col + e row + f; pixel corner)."""
    return [float(v) for v in list(grid.transform)[:6]]


def build_images(ds: EEDataset, *, start: str, end: str, grid) -> dict:
    """Output name -> single-band ee.Image of dataset `ds` over dates [start, end) (ISO dates; ignored for kind
    "image"), in physical units (raw * scale + offset), aligned onto irrmap.core.grid.Grid `grid`, masked pixels
    = ds.nodata, cast to ds.dtype. Raises ConfigError without earthengine-api."""
    ee = ee_module()
    if ds.kind == "image":
        source = ee.Image(ds.collection)
        native = None
    else:
        source = ee.ImageCollection(ds.collection).filterDate(start, end)
        native = ee.Projection(grid_crs(grid)).atScale(ds.native_scale_m)  # module docstring
    composites = _RECIPES[ds.recipe](ee, ds, source)
    return {name: _align(ee, ds, img, grid, native) for name, img in composites.items()}


# ---- masks ------------------------------------------------------------------------------------------------
def member(ee, field, values, width_mask: int):
    """A 0/1 image: `field` (integer, 0..width_mask) is one of `values`; one value is an equality, a contiguous
    run one or two comparisons, else an OR of equalities; None when every value of the field is accepted."""
    v = sorted(set(values))
    if not v:
        return ee.Image.constant(0)
    contiguous = len(v) > 1 and v == list(range(v[0], v[-1] + 1))
    if contiguous:
        tests = ([field.gte(v[0])] if v[0] > 0 else []) + ([field.lte(v[-1])] if v[-1] < width_mask else [])
    else:
        tests = [field.eq(x) for x in v]
    if not tests:
        return None
    out = tests[0]
    for t in tests[1:]:
        out = out.And(t) if contiguous else out.Or(t)
    return out


def vi_quality_mask(ee, qa, rule: QARule | None = None):
    """MOD13Q1 VI_Quality words `qa` -> 0/1 image accepting what irrmap.sources.modis.QARule.accept accepts
    (its bit_tests: (qa >> shift) & mask in the accepted values, and qa != fill); `rule` default QARule()."""
    rule = rule or QARule()
    ok = qa.neq(rule.fill)
    for shift, mask, values in rule.bit_tests():
        field = (qa.rightShift(shift) if shift else qa).bitwiseAnd(mask)
        test = member(ee, field, values, mask)
        if test is not None:
            ok = ok.And(test)
    return ok


def qa_pixel_mask(ee, qa, *, oli: bool):
    """Landsat C2 QA_PIXEL -> 0/1 image: no fill, cloud (irrmap.sources.qa.qa_pixel_cloud_bits), shadow or snow
    bit set, i.e. the words irrmap.sources.qa.decode_qa_pixel decodes CLEAR or WATER."""
    b = QA_PIXEL_BITS
    bits = (b["fill"], b["shadow"], b["snow"]) + qa_pixel_cloud_bits(oli)
    return qa.bitwiseAnd(sum(1 << n for n in bits)).eq(0)


def scl_mask(ee, scl):
    """Sentinel-2 SCL -> 0/1 image keeping the classes irrmap.sources.qa.SCL_CODES decodes CLEAR or WATER."""
    return member(ee, scl, [c for c, code in SCL_CODES.items() if code in (CLEAR, WATER)], 255)


_QA_MASKS = {"vi_quality": vi_quality_mask, "qa_pixel": lambda ee, q: qa_pixel_mask(ee, q, oli=False),
             "qa_pixel_oli": lambda ee, q: qa_pixel_mask(ee, q, oli=True), "scl": scl_mask}


def raw_mask(ds: EEDataset, raw):
    """0/1 image of the raw values `raw` that are neither a fill value nor outside the valid range: those of the
    preset (irrmap.sources.modis PRESETS) and the entry's own fill_values / valid_range; None without any."""
    p = PRESETS[ds.preset] if ds.preset else {}
    ranges = [r for r in (p.get("valid_range"), ds.valid_range) if r is not None]
    tests = [raw.neq(f) for f in (*p.get("fill_values", ()), *ds.fill_values)]
    for lo, hi in ranges:
        tests += [raw.gte(lo), raw.lte(hi)]
    ok = None
    for t in tests:
        ok = t if ok is None else ok.And(t)
    return ok


def prepare(ee, ds: EEDataset, image):
    """One source image -> its value bands masked (preset fill values and valid range on raw values, QA rule)
    and in physical units; bilinear datasets are resampled here (before any compositing)."""
    raw = image.select(list(ds.value_bands))
    ok = raw_mask(ds, raw)
    if ds.qa:
        q = _QA_MASKS[ds.qa](ee, image.select(QA_BANDS[ds.qa]))
        ok = q if ok is None else ok.And(q)
    out = raw if ok is None else raw.updateMask(ok)
    if ds.scale != 1.0:
        out = out.multiply(ds.scale)
    if ds.offset != 0.0:
        out = out.add(ds.offset)
    if ds.resampling == "bilinear":
        out = out.resample("bilinear")
    return out


# ---- recipes (catalog module docstring) -------------------------------------------------------------------
def _reduce(collection, reducer: str):
    return getattr(collection, reducer)()


def _bands(ee, ds, source):
    if ds.kind == "image":
        img = prepare(ee, ds, source)
    else:
        img = _reduce(source.map(lambda i: prepare(ee, ds, i)), ds.reducer)
    return {out: img.select([band]).rename(out) for out, band in zip(ds.outputs, ds.value_bands)}


def _vi_stats(ee, ds, source):
    prepared = source.map(lambda i: prepare(ee, ds, i))
    reduced = {}
    out = {}
    for name, band, stat in ds.output_stats():
        if stat not in reduced:
            reduced[stat] = _reduce(prepared, stat)
        out[name] = reduced[stat].select([band]).rename(name)
    return out


def _indices(ee, ds, source):
    green_b, nir_b, swir_b = ds.value_bands

    def gi(image):
        x = prepare(ee, ds, image)
        green, nir = x.select(green_b), x.select(nir_b)
        ratio = nir.divide(green.updateMask(green.gt(0)))
        return ratio.updateMask(ratio.lte(MAX_GI)).rename("gi")

    def ndwi(image):
        x = prepare(ee, ds, image)
        nir, swir = x.select(nir_b), x.select(swir_b)
        total = nir.add(swir)
        return nir.subtract(swir).divide(total.updateMask(total.neq(0))).rename("ndwi")

    gi_name, ndwi_name = ds.outputs
    return {gi_name: source.map(gi).max().rename(gi_name), ndwi_name: source.map(ndwi).max().rename(ndwi_name)}


def _class_share(ee, ds, source):
    cls = source.select([ds.value_bands[0]])
    share = member(ee, cls, ds.classes, max(ds.classes) + 1)
    ok = raw_mask(ds, cls)  # fill pixels count neither for nor against a class
    if ok is not None:
        share = share.updateMask(ok)
    return {ds.outputs[0]: share.rename(ds.outputs[0])}


_RECIPES = {"bands": _bands, "vi_stats": _vi_stats, "indices": _indices, "class_share": _class_share}


# ---- alignment --------------------------------------------------------------------------------------------
def max_pixels(ds: EEDataset, grid) -> int:
    """reduceResolution's maxPixels: an upper bound of the source pixels one grid pixel touches, at most 65535
    (Earth Engine's limit). Per source axis: ceil(D / source pixel's smallest ground size) + 1 (pixels cut by the
    edges), D = the longest ground diagonal of a grid pixel (pyproj.Geod on a 5 x 5 sample of the grid's pixels,
    corners included, times MARGIN): a diagonal bounds the footprint of a pixel at any rotation (another UTM zone,
    meridian convergence). Source pixels: those of a collection in catalog.DEGREE_PIXELS (or of an entry not
    known to be metric, taken as native_scale_m / 111320 degrees) are p * 111320 * cos(latitude) m wide at the grid's
    poleward edge and p * 110574 m tall (a degree of latitude is 110574 m at the equator, WGS84); catalog.METRIC
    ones (UTM) native_scale_m / MARGIN."""
    from irrmap.sources.ee.catalog import DEGREE_PIXELS, METRIC

    diag = _ground_diagonal(grid) * MARGIN
    if ds.collection in METRIC:
        w = h = ds.native_scale_m / MARGIN
    else:
        deg = DEGREE_PIXELS.get(ds.collection, ds.native_scale_m / METRES_PER_DEGREE)
        w = deg * METRES_PER_DEGREE * math.cos(math.radians(min(_poleward_latitude(grid), 89.99)))
        h = deg * METRES_PER_DEGREE_LAT_MIN
    n = (math.ceil(diag / w) + 1) * (math.ceil(diag / h) + 1)
    return int(min(MAX_PIXELS, n))


MAX_PIXELS = 65535  # reduceResolution's largest maxPixels (Earth Engine API reference, ee.Image.reduceResolution)
METRES_PER_DEGREE_LAT_MIN = 110_574.0  # a degree of latitude at the equator, its shortest (WGS84)
# Scale factor bound of a transverse Mercator (UTM) source within 8 degrees of its central meridian at the equator:
# k = 0.9996 (1 + x^2 / 2R^2), x = 890 km -> 1.0094; also covers the sampling of the grid's pixels
MARGIN = 1.01


def _corners_lonlat(grid, rows, cols):
    """Longitude, latitude (EPSG:4326) of the four corners of the pixels (rows, cols) of `grid`."""
    import numpy as np
    from pyproj import Transformer

    t = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    out = []
    for dr, dc in ((0, 0), (0, 1), (1, 1), (1, 0)):
        x, y = grid.transform * (np.asarray(cols, float) + dc, np.asarray(rows, float) + dr)
        out.append(t.transform(x, y))
    return out


def _sample(grid):
    import numpy as np

    r = np.unique(np.linspace(0, grid.height - 1, 5).round().astype(int))
    c = np.unique(np.linspace(0, grid.width - 1, 5).round().astype(int))
    rows, cols = np.meshgrid(r, c, indexing="ij")
    return rows.ravel(), cols.ravel()


def _ground_diagonal(grid) -> float:
    """The longest geodesic diagonal (metres, WGS84) of the sampled pixels of `grid`."""
    import numpy as np
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = _corners_lonlat(grid, *_sample(grid))
    d1 = geod.inv(x0, y0, x2, y2)[2]
    d2 = geod.inv(x1, y1, x3, y3)[2]
    return float(np.nanmax(np.maximum(d1, d2)))


def _poleward_latitude(grid) -> float:
    """The largest |latitude| (degrees) of the grid's footprint, its edges densified (rasterio transform_bounds)."""
    from rasterio.warp import transform_bounds

    bounds = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, densify_pts=21)
    return max(abs(bounds[1]), abs(bounds[3]))


def _align(ee, ds: EEDataset, img, grid, native):
    if ds.fill_masked is not None:
        img = img.unmask(ds.fill_masked)
    if ds.resampling in ("mean", "mode"):
        if native is not None:
            img = img.setDefaultProjection(native)
        reducer = ee.Reducer.mean() if ds.resampling == "mean" else ee.Reducer.mode()
        img = img.reduceResolution(reducer=reducer, maxPixels=max_pixels(ds, grid))
    img = img.reproject(crs=grid_crs(grid), crsTransform=crs_transform(grid))
    if ds.nodata is not None:
        img = img.unmask(ds.nodata, False)
    return getattr(img, CASTS[ds.dtype])()
