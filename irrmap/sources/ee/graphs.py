"""Earth Engine computation graphs of the catalogue's datasets (irrmap.sources.ee.catalog): per output, one
single-band ee.Image composited server-side, QA-masked and scaled exactly as the file source decodes the same
product, and aligned onto the run's Grid.

Alignment: the image is reprojected with crs = the Grid's CRS ("EPSG:n", or its WKT when it has no EPSG code) and
crsTransform = the Grid's affine transform [a, b, c, d, e, f] (pixel corner), so output pixel edges are the
Grid's pixel edges with no half-pixel shift. "mean"/"mode" first aggregate the finer source pixels with
reduceResolution (a composite gets the first image's projection as its default projection, since Earth Engine
gives composites a 1-degree default); "bilinear" resamples every source image before compositing. Masked output
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
METRES_PER_DEGREE = 111_320.0  # one degree of longitude at the equator (WGS84 circumference / 360): an upper bound


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
        native = ee.Image(source.first()).select(ds.value_bands[0]).projection()
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


def prepare(ee, ds: EEDataset, image):
    """One source image -> its value bands masked (preset fill values and valid range on raw values, QA rule)
    and in physical units; bilinear datasets are resampled here (before any compositing)."""
    raw = image.select(list(ds.value_bands))
    ok = None
    if ds.preset:
        p = PRESETS[ds.preset]
        tests = [raw.neq(f) for f in p.get("fill_values", ())]
        if "valid_range" in p:
            tests += [raw.gte(p["valid_range"][0]), raw.lte(p["valid_range"][1])]
        for t in tests:
            ok = t if ok is None else ok.And(t)
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
    return {ds.outputs[0]: share.rename(ds.outputs[0])}


_RECIPES = {"bands": _bands, "vi_stats": _vi_stats, "indices": _indices, "class_share": _class_share}


# ---- alignment --------------------------------------------------------------------------------------------
def max_pixels(ds: EEDataset, grid) -> int:
    """reduceResolution's maxPixels: source pixels per grid pixel, (grid pixel / native pixel + 1)^2 (one more
    row and column for pixels cut by the edges), grid pixels in degrees taken at the equator; at most 65535."""
    res = max(grid.res) * (METRES_PER_DEGREE if grid.crs.is_geographic else 1.0)
    return int(min(65535, math.ceil((res / ds.native_scale_m + 1) ** 2)))


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
