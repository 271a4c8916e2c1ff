"""Administrative units: polygons with codes, a county -> city -> province hierarchy, and zone rasters.

Units are numbered 1..N in file order (the zone id); 0 marks pixels outside every unit. A pixel belongs to
the unit that contains its centre (GDAL's rasterize rule); where polygons overlap, the later unit wins.
"""

from __future__ import annotations

import logging
import os

import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize
from pyproj import Geod
from rasterio.features import rasterize
from rasterio.windows import Window

from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid

log = logging.getLogger(__name__)

ZONE_DTYPE = "int32"
ZONE_NODATA = 0

SCHEMES = {
    # scheme: (code width, levels finest first, parent rule per level)
    "cn-adcode": (6, ("county", "city", "province")),
    "us-fips": (5, ("county", "state")),
    "none": (None, ("unit",)),
}


def normalise_codes(values, width: int | None = None) -> pd.Series:
    """Codes as strings; numbers (1001, 1001.0) become integers with the one leading zero a numeric column
    drops restored ('01001' for width 5); shorter codes stay as they are so validation can flag them."""
    s = pd.Series(values)

    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer()):
            txt = str(int(v))
        else:
            txt = str(v).strip()
            if txt.endswith(".0") and txt[:-2].isdigit():
                txt = txt[:-2]
        # restore one leading zero lost to a numeric column (FIPS 1001 -> 01001); never invent more
        return txt.zfill(width) if (width and txt.isdigit() and len(txt) == width - 1) else txt

    return s.map(one)


def parents_from_codes(codes: pd.Series, scheme: str) -> dict[str, pd.Series]:
    """Parent codes per level from the code itself: adcode PPCCXX -> city PPCC00, province PP0000; FIPS SSCCC -> state SS."""
    if scheme == "cn-adcode":
        return {"city": codes.str[:4] + "00", "province": codes.str[:2] + "0000"}
    if scheme == "us-fips":
        return {"state": codes.str[:2]}
    return {}


class AdminUnits:
    """Unit polygons with codes and parent codes; `table` has columns code, <parent levels>, name, geometry."""

    def __init__(self, table: gpd.GeoDataFrame, levels: tuple[str, ...], source: str = "", hierarchy: str = "none"):
        self.table = table.reset_index(drop=True)
        self.levels = levels
        self.source = source
        self.hierarchy = hierarchy

    def code_width(self, level: str) -> int | None:
        """Digits of a code at `level` under the hierarchy's scheme (None when codes are free text)."""
        if self.hierarchy == "cn-adcode":
            return 6
        if self.hierarchy == "us-fips":
            return 5 if level == "county" else 2
        return None

    # ---- reading --------------------------------------------------------------------------
    @classmethod
    def read(
        cls,
        paths,
        code_field: str,
        *,
        hierarchy: str = "cn-adcode",
        parent_fields: dict[str, str] | None = None,
        name_field: str | None = None,
        layer: str | None = None,
        invalid_codes: str = "error",
    ) -> "AdminUnits":
        """Read one or more polygon files (GeoJSON, GeoPackage, shapefile) into one unit table.

        Raises DataError naming the rows when codes are missing, duplicated or do not fit the scheme;
        with `invalid_codes="drop"` polygons whose code does not fit the scheme are dropped and logged instead.
        """
        paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not paths:
            raise InputError("no unit files given", "units", "pass at least one polygon file")
        frames = []
        for p in paths:
            try:
                gdf = gpd.read_file(p, layer=layer) if layer else gpd.read_file(p)
            except Exception as exc:  # pyogrio raises several types
                raise InputError(f"cannot read polygons: {exc}", str(p), "check the path and format") from None
            for f in [code_field, name_field, *(parent_fields or {}).values()]:
                if f and f not in gdf.columns:
                    raise InputError(
                        f"field {f!r} not found", str(p), f"use one of: {', '.join(c for c in gdf.columns if c != 'geometry')}"
                    )
            if gdf.crs is None:
                raise InputError("polygons have no CRS", str(p), "set one (e.g. ogr2ogr -a_srs EPSG:4326)")
            gdf = gdf.to_crs(frames[0].crs) if frames else gdf
            gdf["_file"] = str(p)
            frames.append(gdf)
        gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
        if hierarchy not in SCHEMES and hierarchy != "fields":
            raise InputError(f"unknown hierarchy {hierarchy!r}", "hierarchy", "use cn-adcode, us-fips, fields or none")
        width, levels = SCHEMES.get(hierarchy, (None, ("unit",)))
        codes = normalise_codes(gdf[code_field], width)
        table = gpd.GeoDataFrame({"code": codes}, geometry=gdf.geometry.values, crs=gdf.crs)
        if hierarchy == "fields":
            levels = ("unit", *parent_fields)
            for level, field in parent_fields.items():
                table[level] = normalise_codes(gdf[field]).values
        else:
            for level, parent in parents_from_codes(codes, hierarchy).items():
                table[level] = parent.values
        table["name"] = gdf[name_field].astype(str).values if name_field else table["code"]
        table["_file"] = gdf["_file"].values
        if invalid_codes == "drop" and width:
            bad = ~table["code"].fillna("").str.fullmatch(rf"\d{{{width}}}")
            if bad.any():
                log.warning("dropped %d polygons whose %s is not a %d-digit code: %s", bad.sum(), code_field, width,
                            ", ".join(table.loc[bad, "code"].astype(str).head(10)))
                table = table[~bad].reset_index(drop=True)
        cls._check(table, hierarchy, width, code_field)
        table["geometry"] = table.geometry.make_valid()
        return cls(table.drop(columns="_file"), levels, source=";".join(map(str, paths)), hierarchy=hierarchy)

    @staticmethod
    def _check(table, hierarchy, width, code_field) -> None:
        missing = table.index[table["code"].isna()]
        if len(missing):
            raise DataError(f"{len(missing)} polygons have no code (rows {_rows(missing)})", code_field, "fill the code field")
        if width:
            bad = table.index[~table["code"].str.fullmatch(rf"\d{{{width}}}")]
            if len(bad):
                sample = ", ".join(table.loc[bad[:5], "code"])
                raise DataError(
                    f"{len(bad)} codes are not {width}-digit {hierarchy} codes (e.g. {sample}; rows {_rows(bad)})",
                    code_field,
                    "pick the right code field, or use hierarchy = 'fields' / 'none'",
                )
        dup = table[table["code"].duplicated(keep=False)]
        if len(dup):
            groups = dup.groupby("code").apply(lambda g: list(g.index), include_groups=False)
            sample = "; ".join(f"{c}: rows {_rows(ix)}" for c, ix in list(groups.items())[:5])
            raise DataError(
                f"{len(groups)} codes appear on more than one polygon ({sample})",
                code_field,
                "dissolve the parts into one (multi)polygon per code, e.g. ogr2ogr -dialect sqlite -sql 'SELECT ST_Union(geometry), code ... GROUP BY code'",
            )
        empty = table.index[table.geometry.is_empty | table.geometry.isna()]
        if len(empty):
            raise DataError(f"{len(empty)} units have empty geometry (rows {_rows(empty)})", "geometry", "remove or repair them")

    # ---- lookups --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.table)

    @property
    def codes(self) -> pd.Series:
        return self.table["code"]

    def level_codes(self, level: str) -> pd.Series:
        """Code at `level` for every finest unit (the unit's own code at the finest level)."""
        if level == self.levels[0]:
            return self.table["code"]
        if level not in self.table.columns or level not in self.levels:
            raise DataError(f"unknown admin level {level!r}", "level", f"use one of {', '.join(self.levels)}")
        return self.table[level]

    def zone_table(self) -> pd.DataFrame:
        """Zone id (1..N), code, parent codes and name of every unit."""
        cols = ["code", *[lv for lv in self.levels[1:]], "name"]
        out = pd.DataFrame(self.table[cols])
        out.insert(0, "zone", np.arange(1, len(out) + 1, dtype=ZONE_DTYPE))
        return out

    def aggregate(self, values: pd.Series, level: str) -> pd.Series:
        """Sum values indexed by finest-level code up to `level` (NaN where every member is NaN)."""
        parents = pd.Series(self.level_codes(level).values, index=self.codes.values)
        joined = pd.DataFrame({"value": values, "parent": parents.reindex(values.index)})
        return joined.groupby("parent")["value"].sum(min_count=1)

    def geodesic_areas(self, level: str | None = None) -> pd.Series:
        """Ellipsoidal area (m2) of every unit (pyproj.Geod on WGS84), optionally summed to `level`."""
        geo = self.table.to_crs("EPSG:4326") if not self.table.crs.equals("EPSG:4326") else self.table
        geod = Geod(ellps="WGS84")
        areas = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in geo.geometry.values])
        s = pd.Series(areas, index=self.codes.values, name="area_m2")
        return s if level in (None, self.levels[0]) else self.aggregate(s, level)

    # ---- zones ------------------------------------------------------------------------------
    def rasterize(self, grid: Grid, chunks: int = 2048) -> xr.DataArray:
        """Lazy int32 zone raster of the units on `grid` (0 outside), computed chunk by chunk."""
        shapes = self.table.to_crs(grid.crs) if not self.table.crs.equals(grid.crs) else self.table
        geoms = gpd.GeoSeries(shapes.geometry.values, crs=grid.crs)
        token = tokenize(self.source, len(self), grid.to_dict(), chunks)
        arr = da.map_blocks(
            _rasterize_block,
            geoms,
            grid,
            chunks=da.core.normalize_chunks((chunks, chunks), grid.shape),
            dtype=np.dtype(ZONE_DTYPE),
            meta=np.empty((0, 0), dtype=ZONE_DTYPE),
            name=f"zones-{token}",
        )
        out = xr.DataArray(arr, dims=("y", "x"), coords=grid.coords(), name="zone")
        out.attrs["nodata"] = ZONE_NODATA
        return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


def _rasterize_block(geoms: gpd.GeoSeries, grid: Grid, block_info=None) -> np.ndarray:
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    sub = grid.window_grid(Window(c0, r0, c1 - c0, r1 - r0))
    hits = np.sort(geoms.sindex.query(_box(sub.bounds), predicate="intersects"))
    if len(hits) == 0:
        return np.zeros(sub.shape, dtype=ZONE_DTYPE)
    pairs = ((geoms.values[i], int(i) + 1) for i in hits)
    return rasterize(pairs, out_shape=sub.shape, transform=sub.transform, fill=ZONE_NODATA, dtype=ZONE_DTYPE)


def _box(bounds):
    from shapely.geometry import box

    return box(*bounds)


def _rows(index, limit: int = 10) -> str:
    """Row numbers as people count them (1-based), abbreviated."""
    rows = [str(int(i) + 1) for i in list(index)[:limit]]
    return ", ".join(rows) + (", ..." if len(index) > limit else "")


def read_units_from_config(section, resolve) -> AdminUnits:
    """AdminUnits from a validated [units] config section; `resolve` maps config paths to real paths."""
    return AdminUnits.read(
        resolve(section.path),
        section.code_field,
        hierarchy=section.hierarchy,
        parent_fields=section.parent_fields or None,
        name_field=section.name_field,
        layer=section.layer,
        invalid_codes=section.invalid_codes,
    )


__all__ = ["AdminUnits", "normalise_codes", "parents_from_codes", "read_units_from_config", "ZONE_NODATA"]
