"""`write_viewer`: the self-contained offline map viewer of a finished run (one HTML file, Leaflet inlined).

The viewer shows the maps in their own grid (Leaflet's CRS.Simple: no reprojection, no basemap, nothing
fetched): raster layers on the irrigation map's grid as tile pyramids read from the COG overviews (tiles.py),
layers on other grids (the 30 m water and tree-cover sub-area) as one image each, admin units with the per-unit
statistic, mapped area and difference in a popup, and the evaluation's reference points coloured by agreement.
Leaflet's JS and CSS come from the `django-js-lib-leaflet` package (Leaflet 1.9.4 as plain files, BSD
licence, no dependencies) and are copied into the page.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio

from irrmap.core.atomic import write_text_atomic
from irrmap.core.errors import InputError
from irrmap.core.palettes import WATER, hex_colour
from irrmap.evaluation.viewer.layers import IRRIGATION_LABELS, RunLayers, class_table, discover
from irrmap.evaluation.viewer.popups import OFF_GRID, WHOLE, coverage, popup, unit_rows
from irrmap.evaluation.viewer.tiles import Colouring, Frame, render_image, render_pyramid

log = logging.getLogger(__name__)

AGREEMENT_COLOURS = {"agree": "#1a9641", "disagree": "#d7191c", "not used": "#888888"}


@dataclass
class ViewerResult:
    path: Path
    layers: list[str]
    tiles: int
    bytes: int
    notes: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # also in notes, first: shown as a red banner above the map


def leaflet_assets() -> tuple[str, str]:
    """(leaflet.js, leaflet.css) from the django-js-lib-leaflet package, the CSS images inlined as data URIs."""
    spec = importlib.util.find_spec("js_lib_leaflet")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the map viewer needs Leaflet: pip install django-js-lib-leaflet (a dependency of irrmap)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "static" / "js_lib_leaflet"
    js = re.sub(r"//# sourceMappingURL=\S+", "", (folder / "leaflet.js").read_text(encoding="utf-8"))
    css = (folder / "leaflet.css").read_text(encoding="utf-8")

    def inline(m):
        f = folder / m.group(1)
        return f"url(data:image/png;base64,{base64.b64encode(f.read_bytes()).decode()})" if f.is_file() else "none"

    css = re.sub(r"url\((images/[^)]+)\)", inline, css)
    return js, css


UNPREDICTED = ((255, 0, 255, 255), "cropland, not predicted")  # the report's "no data" magenta (evaluation.map_figure.STATES)
NO_SCORE = ((120, 120, 120, 255), "no statistic / no score")
WATER_UNKNOWN = ((189, 189, 189, 255), "unknown (cloud, no observation)")


def _on_grid(path, src) -> bool:
    with rasterio.open(path) as other:
        return (other.height, other.width) == (src.height, src.width) and other.transform.almost_equals(src.transform)


def _colouring(layer, src, cropland=None) -> tuple[Colouring, list]:
    """The colouring and legend entries [(colour or gradient, label)] of a raster layer. `cropland`: the run's
    cropland fraction (RunLayers.cropland), used where it is on the layer's grid to tell crop pixels the map left
    unpredicted (nodata on cropland: UNPREDICTED, as the report's map figure) from land without cropland
    (transparent), and a threshold map's 0 on cropland (not irrigated) from its 0 on other land (transparent)."""
    crop = cropland if cropland is not None and _on_grid(cropland, src) else None
    if layer.group == "threshold":
        # training/threshold_*.tif: 1 irrigated, 0 not irrigated (also on non-crop pixels, by design), 255 no
        # statistic for the unit or no score for the pixel (training.thresholds)
        table = class_table(src)
        legend = [(hex_colour(table[1]), "irrigated"),
                  (hex_colour(table[0]), "not irrigated" if crop is None else "cropland, not irrigated"),
                  (hex_colour(NO_SCORE[0]), NO_SCORE[1] + ("" if crop is not None else " (also off cropland)"))]
        return Colouring("classes", table=table, special=(255, "nodata"), special_colour=NO_SCORE[0], crop=crop,
                         off_crop_hidden=(0,) if crop is not None else ()), legend
    if layer.group == "map" and layer.id != "probability":
        table = class_table(src)
        legend = [(hex_colour(table[v]), lbl) for v, lbl in IRRIGATION_LABELS.items()
                  if v in table and table[v][3] > 0 and table[v][:3] != (255, 255, 255)]
        if crop is None:
            return Colouring("classes", table=table), legend
        return Colouring("classes", table=table, special=("nodata",), special_colour=UNPREDICTED[0], crop=crop), \
            legend + [(hex_colour(UNPREDICTED[0]), UNPREDICTED[1])]
    if layer.id == "probability":
        desc = (src.descriptions[0] or "") if src.descriptions else ""
        top = 100.0 if ("100" in desc or np.dtype(src.dtypes[0]).kind in "iu") else 1.0
        legend = [("ramp:viridis", f"P(irrigated) 0 .. {top:g}")]
        if crop is None:
            return Colouring("ramp", cmap="viridis", vmin=0.0, vmax=top), legend
        return Colouring("ramp", cmap="viridis", vmin=0.0, vmax=top, special=("nodata",), special_colour=UNPREDICTED[0], crop=crop), \
            legend + [(hex_colour(UNPREDICTED[0]), UNPREDICTED[1])]
    if layer.group == "water":
        # water/<epoch>/water.tif: 1 water, 0 not water (transparent), 255 unknown (irrmap.core.palettes.WATER)
        return Colouring("classes", table=dict(WATER), hidden=(0,), special=(255, "nodata"), special_colour=WATER_UNKNOWN[0]), \
            [(hex_colour(WATER[1]), "water"), (hex_colour(WATER_UNKNOWN[0]), WATER_UNKNOWN[1])]
    if layer.group == "treecover":
        return Colouring("ramp", cmap="Greens", vmin=0.0, vmax=100.0), [("ramp:Greens", "tree cover 0 .. 100 %")]
    return Colouring("ramp"), []


def _ramp_css(name: str) -> str:
    from matplotlib import colormaps

    cols = [hex_colour(tuple(int(round(c * 255)) for c in colormaps[name](x))) for x in np.linspace(0, 1, 6)]
    return f"linear-gradient(to right, {', '.join(cols)})"


class _Frame:
    """The viewer's coordinate frame: the irrigation map's grid; map coordinates -> Leaflet [lat, lng]."""

    def __init__(self, path, max_size: int):
        with rasterio.open(path) as src:
            self.crs, self.transform = src.crs, src.transform
            self.frame = Frame.for_shape(src.height, src.width, max_size)
        self.inverse = ~self.transform
        self.u = self.frame.units_per_pixel

    def latlng(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        col, row = self.inverse * (np.asarray(x, float), np.asarray(y, float))
        return -np.asarray(row) * self.u, np.asarray(col) * self.u

    def js(self) -> dict:
        t = self.transform
        return {"height": self.frame.height, "width": self.frame.width, "levels": self.frame.levels,
                "units_per_pixel": self.u, "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
                "crs": self.crs.to_string() if self.crs else "", "geographic": bool(self.crs and self.crs.is_geographic)}


def _raster_entry(layer, frame: _Frame, max_size: int, cropland=None) -> dict:
    with rasterio.open(layer.path) as src:
        colouring, legend = _colouring(layer, src, cropland)
        same = (src.height, src.width) == (frame.frame.height, frame.frame.width) and src.transform.almost_equals(frame.transform) \
            and src.crs == frame.crs
        bounds = src.bounds
        if not same and src.crs != frame.crs:
            from rasterio.warp import transform_bounds

            bounds = transform_bounds(src.crs, frame.crs, *bounds)
    entry = {"id": layer.id, "title": layer.title, "group": layer.group, "visible": layer.visible,
             "legend": [[_ramp_css(c[5:]) if c.startswith("ramp:") else c, lbl] for c, lbl in legend]}
    if same:
        entry["tiles"] = {str(z): t for z, t in render_pyramid(layer.path, frame.frame, colouring).items()}
    else:
        png, _ = render_image(layer.path, max_size, colouring)
        lat, lng = frame.latlng([bounds[0], bounds[2]], [bounds[3], bounds[1]])
        entry["image"] = png
        entry["bounds"] = [[float(lat[1]), float(lng[0])], [float(lat[0]), float(lng[1])]]
    return entry


def _raster_entries(rasters, frame: _Frame, max_size: int, cropland=None) -> list:
    """`_raster_entry` of each layer, in order; a layer GDAL cannot read (RasterioError) or of the wrong shape
    (ValueError) gives its exception instead. Layers are rendered in threads, one per CPU core: GDAL's reads,
    numpy's colouring and PNG compression release the GIL, and each layer opens its own datasets (16x demo,
    12 layers: about 2.4 CPU-s, otherwise on one core while the other idles). Same tiles, same order."""
    from concurrent.futures import ThreadPoolExecutor

    def one(r):
        try:
            return _raster_entry(r, frame, max_size, cropland)
        except (rasterio.errors.RasterioError, ValueError) as exc:
            return exc

    workers = min(len(rasters), os.cpu_count() or 1)
    if workers < 2:
        return [one(r) for r in rasters]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, rasters))


def _units_geojson(layers: RunLayers, frame: _Frame) -> list[dict] | None:
    """One GeoJSON per admin level (finest first: the config's polygons; coarser levels dissolved from them by
    the hierarchy's parent codes), each feature with its popup (popups.popup: mapping/irrigated_area_by_unit.csv
    and the run's other tables) and its coverage by the grid ('whole', 'partial', 'off grid': drawn dashed grey)."""
    if layers.units is None:
        return None
    import shapely

    from irrmap.core.errors import IrrmapError
    from irrmap.core.units import read_units_from_config

    try:
        units = read_units_from_config(layers.units, lambda p: p)
    except IrrmapError as exc:
        layers.notes.append(f"admin units not read ({exc}): layer skipped")
        return None
    gdf = units.table
    if gdf.crs is not None and frame.crs is not None and gdf.crs != frame.crs:
        gdf = gdf.to_crs(frame.crs)
    table = unit_rows(layers.run_dir, layers.unit_table, list(units.levels))
    tol = abs(frame.transform.a) * frame.frame.top_factor / 2

    def to_frame(xy):
        lat, lng = frame.latlng(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lng, lat]), 5)

    out = []
    for i, level in enumerate(units.levels):
        if i == 0:
            codes, names, geoms = gdf["code"].astype(str), gdf["name"].astype(str) if "name" in gdf else gdf["code"].astype(str), gdf.geometry.values
        else:
            if level not in gdf.columns:
                continue
            merged = gdf[[level, "geometry"]].dropna(subset=[level]).dissolve(by=level)
            codes, geoms = merged.index.astype(str), merged.geometry.values
            names = [str(n) if isinstance(n := table.get((level, c), {}).get("name"), str) and n else c for c in codes]
        geoms = shapely.transform(shapely.simplify(geoms, tol, preserve_topology=True), to_frame)
        features = [{"type": "Feature", "geometry": shapely.geometry.mapping(g),
                     "properties": {"code": c, "popup": popup(n, c, table.get((level, c), {})),
                                    "coverage": coverage(table.get((level, c), {})) or WHOLE}}
                    for c, n, g in zip(codes, names, geoms) if g is not None and not g.is_empty]
        off = [f["properties"]["code"] for f in features if f["properties"]["coverage"] == OFF_GRID]
        if off:
            layers.notes.append(f"{len(off)} {level} unit(s) lie off the map's grid, not mapped: drawn dashed grey "
                                f"({', '.join(off[:8])}{', ...' if len(off) > 8 else ''})")
        out.append({"level": level, "title": f"Admin units: {level}", "visible": i == 0,
                    "geojson": {"type": "FeatureCollection", "features": features}})
    return out


def _points(layers: RunLayers, frame: _Frame) -> list | None:
    if layers.points is None:
        return None
    import pandas as pd
    from pyproj import Transformer

    t = pd.read_csv(layers.points)
    if not {"lon", "lat", "reference", "map"} <= set(t.columns):
        layers.notes.append(f"{layers.points} lacks lon, lat, reference or map: no points layer")
        return None
    x, y = Transformer.from_crs("EPSG:4326", frame.crs, always_xy=True).transform(t["lon"].to_numpy(), t["lat"].to_numpy())
    lat, lng = frame.latlng(x, y)
    used = t["used"].astype(str).str.lower().isin(["true", "1"]) if "used" in t.columns else pd.Series(True, index=t.index)
    out = []
    for i, rec in enumerate(t.to_dict("records")):
        ok = used.iloc[i] and not (pd.isna(rec["reference"]) or pd.isna(rec["map"]))
        status = ("agree" if int(rec["reference"]) == int(rec["map"]) else "disagree") if ok else "not used"
        extra = "".join(f"<br>{k}: {html.escape(str(rec[k]))}" for k in ("stratum", "label_name") if k in rec)
        popup = f"<b>point {html.escape(str(rec.get('id', i + 1)))}</b><br>reference: {rec['reference']}<br>map: {rec['map']}<br>{status}{extra}"
        out.append([round(float(lat[i]), 5), round(float(lng[i]), 5), status, popup])
    return out


def write_viewer(run_dir, out=None, *, max_size: int = 2048, verify: Callable[[RunLayers], list[str]] | None = None) -> ViewerResult:
    """Write the offline viewer of the run in `run_dir` (default file: <output folder>/view.html). `verify`, when
    given, is called with the run's layers before anything is drawn and returns alerts (e.g. `irrmap view`'s: a file
    shown that changed after the run finished): the first notes, and a red banner above the map."""
    layers = discover(run_dir)
    alerts = list(verify(layers)) if verify is not None else []
    layers.notes[:0] = alerts
    if not layers.rasters:
        raise InputError(f"{layers.run_dir}: the manifest lists no map to show (mapping/class.tif, threshold maps, ...)")
    base = next((r for r in layers.rasters if r.group in ("map", "threshold")), layers.rasters[0])
    frame = _Frame(base.path, max_size)
    entries = []
    for r, entry in zip(layers.rasters, _raster_entries(layers.rasters, frame, max_size, layers.cropland)):
        if isinstance(entry, Exception):
            layers.notes.append(f"{r.path}: {entry}; layer skipped")
        else:
            entries.append(entry)
    data = {"frame": frame.js(), "rasters": entries, "units": _units_geojson(layers, frame), "points": _points(layers, frame),
            "agreement": AGREEMENT_COLOURS, "title": _title(layers), "notes": layers.notes,
            "alerts": alerts}
    js, css = leaflet_assets()
    page = PAGE.replace("%TITLE%", html.escape(data["title"])).replace("%LEAFLET_CSS%", css).replace("%LEAFLET_JS%", js) \
        .replace("%DATA%", json.dumps(data, separators=(",", ":")).replace("</", "<\\/"))
    target = Path(out) if out is not None else layers.run_dir / "view.html"
    write_text_atomic(target, page)
    if len(page) > 50e6:
        layers.notes.append(f"{target} is {len(page) / 1e6:.0f} MB: browsers open it slowly; --max-size "
                            f"{max(256, max_size // 2)} halves the finest level")
    names = [e["title"] for e in entries] + [u["title"] for u in data["units"] or []] + (["Reference points"] if data["points"] else [])
    ntiles = sum(len(t) for e in entries for t in e.get("tiles", {}).values()) + sum(1 for e in entries if "image" in e)
    return ViewerResult(target, names, ntiles, target.stat().st_size, layers.notes, alerts)


def _title(layers: RunLayers) -> str:
    """The run's [run].name from the config the run used (layers.run_config), else the output folder's name."""
    name = ((layers.config or {}).get("run") or {}).get("name")
    return f"irrmap viewer: {name or layers.run_dir.name}"


PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%TITLE%</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>%LEAFLET_CSS%</style>
<style>
html,body{margin:0;height:100%;font:13px/1.35 system-ui,sans-serif}
#map{position:absolute;top:34px;bottom:0;left:0;right:0;background:#fafafa}
#alerts{position:absolute;top:34px;left:0;right:0;z-index:1000;background:#b71c1c;color:#fff;padding:6px 10px;max-height:40%;overflow:auto}
#alerts div{margin:2px 0}
#bar{height:34px;display:flex;align-items:center;gap:16px;padding:0 10px;background:#263238;color:#fff}
#bar b{font-size:14px}#coords{margin-left:auto;font-family:monospace}
.leaflet-tile,.leaflet-image-layer{image-rendering:pixelated}
.legend{background:#fff;padding:6px 8px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:260px}
.legend .row{display:flex;align-items:center;gap:6px;margin:2px 0}
.legend .sw{width:14px;height:14px;border:1px solid #999;flex:none}.legend .ramp{width:80px}
.legend h4{margin:4px 0 2px;font-size:12px}
</style></head><body>
<div id="bar"><b>%TITLE%</b><span id="notes"></span><span id="coords"></span></div>
<div id="map"></div>
<div id="alerts" hidden></div>
<div id="viewer-status" hidden data-ready="0" data-layers=""></div>
<ul id="viewer-errors" hidden></ul>
<script>
window.addEventListener('error', function (e) {
  var li = document.createElement('li'); li.textContent = String(e.message || e);
  document.getElementById('viewer-errors').appendChild(li);
});
</script>
<script>%LEAFLET_JS%</script>
<script id="viewer-data" type="application/json">%DATA%</script>
<script>
(function () {
  var V = JSON.parse(document.getElementById('viewer-data').textContent);
  var F = V.frame, u = F.units_per_pixel;
  var BLANK = 'data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7';
  var full = L.latLngBounds([[-F.height * u, 0], [0, F.width * u]]);
  var map = L.map('map', {crs: L.CRS.Simple, minZoom: -3, maxZoom: F.levels + 6, zoomSnap: 0.25, fadeAnimation: false, attributionControl: false});
  map.fitBounds(full);
  var Embedded = L.TileLayer.extend({
    getTileUrl: function (c) {
      var t = this.options.tiles[String(c.z)], s = t && t[c.x + '/' + c.y];
      return s ? 'data:image/png;base64,' + s : BLANK;
    }
  });
  var overlays = {}, legends = {}, order = [], byId = {}, unitLayers = {};
  var hash = {};  // view.html#show=probability,threshold_sevi&unit=610202: layers to show, a unit's popup to open
  location.hash.replace(/^#/, '').split('&').forEach(function (kv) { var p = kv.split('='); if (p[0]) hash[p[0]] = decodeURIComponent(p[1] || ''); });
  var shown = hash.show ? hash.show.split(',') : null;
  V.rasters.forEach(function (r) {
    var lyr;
    if (r.tiles) {
      lyr = new Embedded('', {tiles: r.tiles, tileSize: 256, minNativeZoom: 0, maxNativeZoom: F.levels,
                              minZoom: -3, maxZoom: F.levels + 6, bounds: full, noWrap: true, errorTileUrl: BLANK});
    } else {
      lyr = L.imageOverlay('data:image/png;base64,' + r.image, r.bounds);
    }
    overlays[r.title] = lyr; legends[r.title] = r.legend; order.push(r.title); byId[r.id] = lyr;
    if (shown ? shown.indexOf(r.id) >= 0 : r.visible) lyr.addTo(map);
  });
  (V.units || []).forEach(function (u, i) {
    var w = 1.2 + 0.8 * i;
    var units = L.geoJSON(u.geojson, {style: function (f) {
        return f.properties.coverage === 'off grid' ? {color: '#9e9e9e', weight: 1, dashArray: '4 4', fill: true, fillOpacity: 0}
                                                    : {color: i ? '#000' : '#333', weight: w, fill: true, fillOpacity: 0}; },
      onEachFeature: function (f, l) { l.bindPopup(f.properties.popup); unitLayers[f.properties.code] = l; }});
    overlays[u.title] = units; order.push(u.title); byId['units_' + u.level] = units;
    if (shown ? shown.indexOf('units_' + u.level) >= 0 || (i === 0 && shown.indexOf('units') < 0) : u.visible) units.addTo(map);
    legends[u.title] = [['#ffffff', 'click a unit: statistic, mapped area, difference']];
    if (u.geojson.features.some(function (f) { return f.properties.coverage === 'off grid'; }))
      legends[u.title].push(['repeating-linear-gradient(90deg,#9e9e9e 0 4px,#fff 4px 8px)', 'dashed grey: off the grid, not mapped']);
  });
  if (V.points) {
    var pts = L.layerGroup(V.points.map(function (p) {
      return L.circleMarker([p[0], p[1]], {radius: 4, color: '#222', weight: 0.6, fillColor: V.agreement[p[2]], fillOpacity: 0.9})
        .bindPopup(p[3]);
    }));
    overlays['Reference points'] = pts; order.push('Reference points'); pts.addTo(map);
    var what = {'agree': 'map agrees with the reference', 'disagree': 'map disagrees with the reference', 'not used': 'point not used by the evaluation'};
    legends['Reference points'] = Object.keys(V.agreement).map(function (k) { return [V.agreement[k], what[k] || k]; });
  }
  L.control.layers(null, overlays, {collapsed: false}).addTo(map);
  var legend = L.control({position: 'bottomright'});
  legend.onAdd = function () { this._div = L.DomUtil.create('div', 'legend'); return this._div; };
  legend.addTo(map);
  function drawLegend() {
    var h = '';
    order.forEach(function (name) {
      if (!map.hasLayer(overlays[name]) || !legends[name] || !legends[name].length) return;
      h += '<h4>' + name + '</h4>';
      legends[name].forEach(function (e) {
        var ramp = e[0].indexOf('gradient') >= 0;
        h += '<div class="row"><span class="sw' + (ramp ? ' ramp' : '') + '" style="background:' + e[0] + '"></span>' + e[1] + '</div>';
      });
    });
    legend._div.innerHTML = h;
  }
  map.on('overlayadd overlayremove', drawLegend); drawLegend();
  var t = F.transform;
  map.on('mousemove', function (e) {
    var col = e.latlng.lng / u, row = -e.latlng.lat / u;
    var x = t[0] * col + t[1] * row + t[2], y = t[3] * col + t[4] * row + t[5];
    var d = F.geographic ? 5 : 1;
    document.getElementById('coords').textContent = F.crs + '  x ' + x.toFixed(d) + '  y ' + y.toFixed(d) +
      '  (row ' + Math.floor(row) + ', col ' + Math.floor(col) + ')';
  });
  if (V.alerts && V.alerts.length) {
    var al = document.getElementById('alerts');
    V.alerts.forEach(function (a) { var d = document.createElement('div'); d.textContent = '\u26a0 ' + a; al.appendChild(d); });
    al.hidden = false;
    document.getElementById('map').style.top = (34 + al.offsetHeight) + 'px'; map.invalidateSize();
  }
  if (V.notes.length) document.getElementById('notes').textContent = V.notes.length + ' note(s): ' + V.notes.join('; ');
  if (hash.unit && unitLayers[hash.unit]) {
    var ul = unitLayers[hash.unit];
    if (!map.hasLayer(ul)) Object.keys(byId).forEach(function (k) { if (byId[k].hasLayer && byId[k].hasLayer(ul)) byId[k].addTo(map); });
    ul.openPopup();
  }
  var st = document.getElementById('viewer-status');
  st.dataset.layers = order.join('|');
  st.dataset.ready = '1';
})();
</script></body></html>
"""

__all__ = ["AGREEMENT_COLOURS", "ViewerResult", "leaflet_assets", "write_viewer"]
