"""Administrative units: polygons with codes, a county -> city -> province hierarchy, and zone rasters.

Units are numbered 1..N in file order (the zone id); 0 marks pixels outside every unit. A pixel belongs to
the unit that contains its centre (GDAL's rasterize rule), so units must not overlap: `AdminUnits.read` refuses
two units whose intersection is more than OVERLAP_SHARE of the smaller one (a feature that is the union of
others, e.g. the "New York City" feature over the five boroughs of a US counties GeoJSON: the later unit would
win every shared pixel and the covered units would map nothing); shared borders and digitising slivers pass.
The refusal's fix depends on the pair (`_check_overlaps`): a unit that was invalid and repaired is named for its
geometry to be fixed, a unit covering most of another (a duplicate or an aggregate) for its feature to be dropped, and
two valid units that cross each other less deeply for their shared border to be corrected.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
import warnings

import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import xarray as xr
from dask.base import tokenize
from pyproj import Geod
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import rasterize
from rasterio.windows import Window

from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.core.polygons import (
    densified,
    normalise_polygons,
    oriented,
    to_crs,
    wrapped,
)
from irrmap.core.vectors import crs_fix, describe_layers, read_vector_parts

log = logging.getLogger(__name__)

# rasterio.features.rasterize burns into GDAL's temporary in-memory dataset with the transform it is given, yet from
# dask threads it now and then warns NotGeoreferencedWarning for it (seen on the 2,764 Chinese counties at 0.00225 deg:
# 1 warning in 112 blocks, whose zones equal those rasterized alone). Filtered once at import, as irrmap.core.raster_read
# does for rasterio.warp, not with warnings.catch_warnings() per call (not thread-safe).
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module=r"rasterio\.features")

OVERLAP_SHARE = 0.02  # overlap accepted between two units, as a share of the smaller one's area; slivers of the 2,764 Chinese
# counties (city_full) reach 0.9 %, a duplicate or aggregate feature covers 100 %
CONTAINED_SHARE = 0.5  # an overlap of more than half of the smaller unit: it lies mostly inside the other, a duplicate
# or an aggregate (100 % for the New York City feature over its boroughs); less is a border drawn into the neighbour
ZONE_DTYPE = "int32"
ZONE_NODATA = 0

# Codes of each hierarchy, finest level first: level -> regular expression of a valid code. A code that
# fails its pattern is an invalid code ([units].invalid_codes), never padded or truncated into a valid one.
# cn-adcode: GB/T 2260 codes PPCCXX; province codes run 11 (Beijing) .. 82 (Macao), so no adcode starts with 0
# and a 5-digit code is not one that lost a leading zero, and 100000 (China as a whole: the boundary-line feature
# of a DataV country file) is no unit. us-fips: FIPS 6-4 county codes SSCCC with state codes
# 01..99 (INCITS 38: 01 Alabama .. 78 Virgin Islands); states 01-09 lose their zero in numeric columns.
CN_PROVINCE = r"(?:1[1-9]|[2-7]\d|8[0-2])"  # GB/T 2260 province prefix 11..82
SCHEMES = {
    "cn-adcode": {"county": CN_PROVINCE + r"\d{4}", "city": CN_PROVINCE + r"\d{2}00", "province": CN_PROVINCE + "0000"},
    "us-fips": {"county": r"(?:0[1-9]|[1-9]\d)\d{3}", "state": r"0[1-9]|[1-9]\d"},
    "none": {"unit": None},
}
SCHEME_NAMES = {"cn-adcode": "6-digit cn-adcode", "us-fips": "5-digit us-fips"}
# How messages name the options that read units: the [units] config keys (a run passes UNIT_OPTIONS), a command's
# own flags (AdminUnits.read `options`, irrmap.app.cli.units_options.unit_flags; None for an option the command
# lacks) or, for a caller that says neither (options None), both forms.
UNIT_OPTIONS = {"code_field": "[units].code_field", "hierarchy": "[units].hierarchy", "invalid_codes": "[units].invalid_codes",
                "layer": "[units].layer", "encoding": "[units].encoding"}
_FLAGS = {"code_field": "--code-field or --unit-field", "hierarchy": "--hierarchy", "invalid_codes": "--drop-invalid-codes",
          "layer": "--layer or --units-layer", "encoding": "--encoding or --units-encoding"}


def unit_option(options: dict | None, name: str) -> str | None:
    """How a message names units option `name` (a key of UNIT_OPTIONS): `options[name]` (a flag such as "--unit-field",
    a config key, or None when the command has no such option); for `options` None, the config key and the flags."""
    if options is None:
        return f"{UNIT_OPTIONS[name]} (command line: {_FLAGS[name]})"
    return options.get(name, UNIT_OPTIONS[name])


def _invalid_codes_fix(options: dict | None) -> str:
    """The fix for polygons whose code does not fit the scheme, in the caller's own options."""
    code, drop, hier = (unit_option(options, k) for k in ("code_field", "invalid_codes", "hierarchy"))
    if options is None:
        return (f"pick the right code field ({code}), set {UNIT_OPTIONS['invalid_codes']} = 'drop' (command line: "
                f"{_FLAGS['invalid_codes']}) to drop those polygons, or use hierarchy 'fields' / 'none' ({UNIT_OPTIONS['hierarchy']}; "
                "command line: --hierarchy none)")
    flags = str(code or hier or "").startswith("--")
    drop_text = ((f"add {drop}" if flags else f"set {drop} = 'drop'") + " to drop those polygons" if drop else
                 "remove those polygons from the file (this command has no option that drops them)")
    return f"pick the right code field ({code}), {drop_text}, or use " + (f"{hier} none" if flags else f"{hier} = 'fields' / 'none'")


def normalise_codes(values, pattern: str | None = None) -> pd.Series:
    """Codes as strings (None where missing: None, NaN, NA, and empty or blank text, which a table reader gives for
    an empty cell, so that a row without a code is a missing code and never the code ''); numbers (1001, 1001.0)
    become integers. Text is put in Unicode NFC (composed) form, so names that differ only in how an accent is
    encoded (NFD 'Sherida\u0301n' from macOS / some GIS exports, NFC 'Sheridán') are one code; the NFC text renders
    exactly as the original. Nothing else is folded (case, compatibility forms such as full-width digits stay).

    With `pattern` (a regular expression of a valid code, e.g. `AdminUnits.code_pattern(level)`), a digit
    code that fails it but fits it with one leading zero gets that zero back (FIPS 1001 -> '01001', lost to
    a numeric column); every other code stays as it is, so validation can name it (adcode 13010 stays
    '13010', not a phantom province '013010').
    """
    s = pd.Series(values)
    valid = re.compile(pattern).fullmatch if pattern else None

    def one(v):
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and np.isnan(v)):
            return None
        if isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer()):
            txt = str(int(v))
        else:
            txt = unicodedata.normalize("NFC", str(v).strip())  # 'Sherida\u0301n' (NFD) is 'Sheridán' (NFC)
            if not txt:
                return None
            if txt.endswith(".0") and txt[:-2].isdigit():
                txt = txt[:-2]
        if valid and txt.isdigit() and not valid(txt) and valid("0" + txt):
            return "0" + txt
        return txt

    return s.map(one)


def parents_from_codes(codes: pd.Series, scheme: str) -> dict[str, pd.Series]:
    """Parent codes per level from the code itself: adcode PPCCXX -> city PPCC00, province PP0000; FIPS SSCCC -> state SS."""
    if scheme == "cn-adcode":
        return {"city": codes.str[:4] + "00", "province": codes.str[:2] + "0000"}
    if scheme == "us-fips":
        return {"state": codes.str[:2]}
    return {}


def several_parents(child: pd.Series, parent: pd.Series) -> pd.Series:
    """Codes of `child` (one code per row) that meet more than one distinct code of `parent` (the same rows' codes at a
    coarser level; missing codes on either side are left out): child code -> sorted list of its parent codes, empty when
    the child level nests in the parent level (every child code lies in one parent). The one nesting test of
    `AdminUnits.read` (the order of [units].parent_fields) and irrmap.core.statistics.harmonise.hierarchy_of."""
    pair = pd.DataFrame({"child": pd.Series(child).to_numpy(dtype=object),
                         "parent": pd.Series(parent).to_numpy(dtype=object)}).dropna()
    if pair.empty:
        return pd.Series([], dtype=object)
    distinct = pair.drop_duplicates()
    hit = distinct["child"].duplicated(keep=False)
    if not hit.any():
        return pd.Series([], dtype=object)
    return distinct[hit].groupby("child", sort=True)["parent"].agg(lambda p: sorted(map(str, p)))


def several_parents_text(conflicts: pd.Series, child: str, parent: str, n: int = 3) -> str:
    """'2 city codes lie in more than one province (610100: 610000, 620000; ...)' for `several_parents`' result."""
    sample = "; ".join(f"{c}: {', '.join(p)}" for c, p in list(conflicts.items())[:n])
    return f"{len(conflicts)} {child} codes lie in more than one {parent} ({sample}{'; ...' if len(conflicts) > n else ''})"


def _nesting_order(table: pd.DataFrame, levels: list[str], fields: dict[str, str], where: str) -> list[str]:
    """The parent levels of hierarchy 'fields' (columns of `table`, given codes, missing ones not yet filled) finest
    first: the order in which each level nests in the next (every code of a level lies in ONE code of the next,
    `several_parents`), whatever order [units].parent_fields gives them in. The given order when it nests; else the one
    order that does, with an INFO saying the order was taken from the data (the first in the given order when levels
    with the same units make several); DataError (located at `where`) naming the level pairs that do not nest, a few
    codes with several parents and the fix when none does. Levels x levels `several_parents` tests; the orders tried
    are the permutations of the levels (a handful: one field per admin level)."""
    import itertools

    k = len(levels)
    nests = {(a, b): several_parents(table[a], table[b]).empty for a in levels for b in levels if a != b}

    def ok(order):
        return all(nests[order[i], order[i + 1]] for i in range(len(order) - 1))

    if ok(levels):
        return list(levels)
    if k <= 7:
        found = next((list(o) for o in itertools.permutations(levels) if ok(o)), None)
        if found is not None:
            log.info("units: [units].parent_fields lists the levels %s; their codes nest as %s (finest first: every code "
                     "lies in one code of the next level), so the levels are taken in that order from the data",
                     ", ".join(levels), " -> ".join(["unit", *found]))
            return found
    # none nests: name the pairs of the likeliest order (more distinct codes = finer; the given order breaks ties)
    likely = sorted(levels, key=lambda lv: -table[lv].nunique())
    parts = []
    for a, b in zip(likely, likely[1:]):
        conflicts = several_parents(table[a], table[b])
        if len(conflicts):
            parts.append(f"{several_parents_text(conflicts, a, b)}: fields {fields[a]!r} -> {fields[b]!r}")
    raise DataError(f"the parent levels do not nest in any order: {'; '.join(parts)}", where,
                    "every code of a level must lie in exactly one code of the next coarser level: correct the parent "
                    "codes of those units, or leave the level that does not nest out of [units].parent_fields "
                    "(command line: --parent-field LEVEL=FIELD)")


def _fill_parents(table: pd.DataFrame, levels: tuple[str, ...]) -> pd.DataFrame:
    """`table` with every missing code of a coarser level (a column per `levels[1:]`, finest first) filled with the
    parent that other units with the same code at the next finer level give (city A in province P for one unit of A
    makes every unit of A in P: the levels nest), else with the unit's code at the next finer level (its own code at
    the first parent level), so that the unit stands for itself there and no
    sum over a level (`AdminUnits.aggregate`, the zone table's level columns) leaves it out: the county-level units
    with no city in DataV's city_full (441900 Dongguan and 442000 Zhongshan, prefecture-level cities without counties;
    419001, 4290xx, 4690xx, 6590xx, province-administered county-level cities) become cities of their own, as
    cn-adcode makes 441900 the city 441900. A copy when anything is filled; the same table otherwise."""
    coarser = [lv for lv in levels[1:] if lv in table.columns]
    if not coarser or not table[coarser].isna().to_numpy().any():
        return table
    table = table.copy()
    finer = table["code"]
    for level in coarser:
        col = table[level].astype(object)
        # the parent that other units of the same finer code give (the levels nest: at most one), else the finer code
        known = pd.DataFrame({"finer": finer, "parent": col}).dropna().drop_duplicates("finer").set_index("finer")["parent"]
        inherited = finer.map(known)
        table[level] = col.where(col.notna(), inherited.where(inherited.notna(), finer))
        finer = table[level]
    return table


class AdminUnits:
    """Unit polygons with codes and parent codes; `table` has columns code, <parent levels>, name, geometry.
    A missing parent code is filled at construction (`_fill_parents`: the unit stands for itself at that level).
    The table is not changed after construction (geodesic areas are computed once per level)."""

    def __init__(self, table: gpd.GeoDataFrame, levels: tuple[str, ...], source: str = "", hierarchy: str = "none",
                 options: dict | None = None):
        """Units from `table` (a GeoDataFrame: code, <parent levels>, name, geometry; one row per unit). InputError when
        `table` has no CRS (as `read` refuses a file without one); DataError when a code is on more than one row, with
        `read`'s message (`_check_duplicates`) and the GeoDataFrame's fix (dissolve the rows of each code into one)."""
        where = f"AdminUnits table{f' ({source})' if source else ''}"
        if getattr(table, "crs", None) is None:
            raise InputError("polygons have no CRS (table.crs is None), so their areas and zones cannot be computed",
                             where, "declare it, e.g. table = table.set_crs('EPSG:4326') when the coordinates are lon/lat "
                             "degrees, or table.set_crs(<the CRS of the file they came from>)")
        _check_duplicates(table.reset_index(drop=True), f"{where} column code",
                          "dissolve the rows of each code into one (multi)polygon, e.g. "
                          "table = table.dissolve(by='code', as_index=False)")
        self.table = _fill_parents(table.reset_index(drop=True), levels)
        self.options = options  # how messages name the options that read these units (unit_option)
        self.levels = levels
        self.source = source
        self.hierarchy = hierarchy
        self._areas: dict[str, pd.Series] = {}

    def code_pattern(self, level: str) -> str | None:
        """Regular expression of a valid code at `level` under the hierarchy's scheme (None: free text)."""
        return SCHEMES.get(self.hierarchy, {}).get(level)

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
        encoding: str | None = None,
        options: dict | None = None,
    ) -> AdminUnits:
        """Read one or more polygon files (GeoJSON, GeoPackage, shapefile) into one unit table.

        Geometry is normalised once here (irrmap.core.polygons): repaired, polygonal parts only, shells
        counter-clockwise, split at the antimeridian in a geographic CRS; repaired units are logged.
        Raises InputError for an unreadable file, a file without features, a missing field or CRS;
        DataError naming the rows when codes are missing, duplicated or do not fit the scheme, or when a
        unit has no polygonal area. With `invalid_codes="drop"` polygons whose code does not fit the
        scheme are dropped and logged instead. `encoding` decodes a shapefile's DBF text (e.g. "gbk" for Chinese
        boundaries without a .cpg file; irrmap.core.vectors.read_vector_parts, which raises InputError for such a
        file read without it). Each file is read once (irrmap.core.vectors.read_vector_parts); the files' geometries are
        joined and those in another CRS than the first file's converted to it, once per CRS. `options` names the
        caller's own options in messages (UNIT_OPTIONS keys -> a command's flags, or UNIT_OPTIONS itself in a run; None:
        both forms, see `unit_option`); the units keep it (`AdminUnits.options`) for later messages, e.g. the
        statistics join's. DataError also when two units overlap by more than OVERLAP_SHARE of the smaller one
        (`overlapping_pairs`), naming them, the overlap's geodesic area and the fix (`_check_overlaps`: the repaired
        unit's geometry to fix, the duplicate or aggregate feature to drop, or the shared border to correct).
        With hierarchy "fields", the parent levels are taken finest first in the order in which their codes nest, whatever
        the order of `parent_fields` (`_nesting_order`: an INFO when the data reorders them; DataError naming the level
        pair, codes with several parents and the fix when no order nests), so `levels` is ("unit", finest .. coarsest).
        A unit whose parent field is empty at a level takes the parent that other units of its code at the next finer
        level give, else stands for itself there (`_fill_parents`: its code at the next finer level, its own at the first
        parent level), with one WARNING naming how many units per
        level, the first codes and their share of the units' geodesic area (a parent code is free text here, so one that
        names no unit of its level cannot be told from the units alone).
        """
        paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not paths:
            raise InputError("no unit files given", "units", "pass at least one polygon file")
        if hierarchy not in SCHEMES and hierarchy != "fields":
            raise InputError(f"unknown hierarchy {hierarchy!r}", "hierarchy", "use cn-adcode, us-fips, fields or none")
        if hierarchy == "fields" and not parent_fields:
            raise InputError("hierarchy 'fields' needs the fields that hold each unit's parent codes", "parent_fields",
                             "name them, e.g. [units].parent_fields = {district = 'DIST_CODE'}, or use hierarchy 'none'")
        frames, crss = [], []
        for p in paths:
            frame, crs = read_vector_parts(p, layer, what="polygons of units", layer_key=unit_option(options, "layer") or "a layer option",
                                           encoding=encoding, encoding_key=unit_option(options, "encoding") or "an encoding option")
            if len(frame) == 0:
                raise InputError(f"the file{f' (layer {layer!r})' if layer else ''} has no features", str(p),
                                 f"give a polygon file with one feature per unit{_layer_hint(p, options)}")
            for f in [code_field, name_field, *(parent_fields or {}).values()]:
                if f and f not in frame.columns:
                    raise InputError(
                        f"field {f!r} not found", str(p), f"use one of: {', '.join(c for c in frame.columns if c != 'geometry')}"
                    )
            if crs is None:
                note, fix = crs_fix(p, layer)
                raise InputError(f"polygons have no CRS{note}", str(p), fix)
            frames.append(frame)
            crss.append(crs)
        attrs = pd.concat(frames, ignore_index=True)
        geometry = _joined_geometry(attrs.pop("geometry").to_numpy(), crss, [len(f) for f in frames])
        patterns = SCHEMES.get(hierarchy, {"unit": None})
        finest = next(iter(patterns.values()))
        codes = normalise_codes(attrs[code_field], finest)
        table = gpd.GeoDataFrame({"code": codes}, geometry=geometry.values, crs=geometry.crs)
        levels = tuple(patterns)
        if hierarchy == "fields":
            for level, field in parent_fields.items():
                table[level] = normalise_codes(attrs[field]).values
            where = _field_where(paths, ", ".join(parent_fields.values()))
            order = _nesting_order(table, list(parent_fields), parent_fields, where)
            parent_fields = {lv: parent_fields[lv] for lv in order}
            levels = ("unit", *order)
        else:
            for level, parent in parents_from_codes(codes, hierarchy).items():
                table[level] = parent.values
        table["name"] = attrs[name_field].astype(str).values if name_field else table["code"]
        if invalid_codes == "drop" and finest:
            bad = ~table["code"].fillna("").str.fullmatch(finest)
            if bad.any():
                log.warning("dropped %d polygons whose %s is not a %s code: %s", bad.sum(), code_field, SCHEME_NAMES[hierarchy],
                            ", ".join(table.loc[bad, "code"].astype(str).head(10)))
                table = table[~bad].reset_index(drop=True)
                if table.empty:
                    raise DataError(f"every polygon was dropped: no {code_field} is a {SCHEME_NAMES[hierarchy]} code", code_field,
                                    "pick the right code field or hierarchy")
        repaired = _log_repairs(table)
        table["geometry"] = normalise_polygons(table.geometry, where=";".join(map(str, paths)))
        cls._check(table, hierarchy, finest, code_field, options, where=_field_where(paths, code_field))
        _check_overlaps(table, code_field, paths, repaired)
        _warn_coarse_codes(table["code"], hierarchy, code_field, paths)
        missing = table[list(parent_fields)].isna().reset_index(drop=True) if hierarchy == "fields" else None  # before __init__ fills them
        units = cls(table, levels, source=";".join(map(str, paths)), hierarchy=hierarchy, options=options)
        if hierarchy == "fields":  # the filled codes nest too (a filled code could be another unit's code of that level)
            for finer, coarser in zip(levels[1:], levels[2:]):
                conflicts = several_parents(units.table[finer], units.table[coarser])
                if len(conflicts):
                    raise DataError(f"{several_parents_text(conflicts, finer, coarser)} once units without a {coarser} code "
                                    f"stand for themselves there", _field_where(paths, parent_fields[coarser]),
                                    f"fill the {coarser} code of those units, or give codes that no other unit uses at that level")
        if missing is not None:
            units._warn_missing_parents(missing, parent_fields, paths)
        return units

    def _warn_missing_parents(self, missing: pd.DataFrame, parent_fields: dict[str, str], paths: list) -> None:
        """One WARNING for the units whose parent field was empty at some level (`missing`: one bool column per
        coarser level, rows as `self.table`; `_fill_parents` made each stand for itself there): how many per level
        and field, the first codes, their share of the units' geodesic area, and the fix."""
        if not missing.to_numpy().any():
            return
        area = self.geodesic_areas()
        whole = float(area.sum())
        parts = []
        for level, field in parent_fields.items():
            hit = missing[level].to_numpy()
            if hit.any():
                codes = self.codes[hit]
                share = float(area.reindex(codes.values).sum()) / whole if whole > 0 else 0.0
                parts.append(f"{hit.sum()} of {len(self)} units have no {level} code in field {field!r} "
                             f"({', '.join(codes.astype(str).head(8))}{', ...' if hit.sum() > 8 else ''}; {share:.2%} of the units' area)")
        files = str(paths[0]) if len(paths) == 1 else f"{len(paths)} unit files ({paths[0]}, ...)"
        log.warning("units: %s: %s. Each such unit stands for itself at that level (its code at the next finer level, at the "
                    "first parent level its own code, as cn-adcode gives 441900 Dongguan, a city without counties, the city "
                    "441900), or takes the parent that the other units of its finer code give, so level totals and agreement still count it. Fix: fill the parent field of units that belong "
                    "to a parent unit (the parent fields are [units].parent_fields; command line --parent-field LEVEL=FIELD)",
                    files, "; ".join(parts))

    @staticmethod
    def _check(table, hierarchy, pattern, code_field, options=None, where: str | None = None) -> None:
        """DataError (located at `where`, default `code_field`) for missing, invalid or duplicated codes and empty units."""
        where = where or code_field
        missing = table.index[table["code"].isna()]
        if len(missing):
            raise DataError(f"{len(missing)} polygons have no code (rows {_rows(missing)})", where, "fill the code field")
        if pattern:
            bad = table.index[~table["code"].str.fullmatch(pattern)]
            if len(bad):
                sample = ", ".join(table.loc[bad[:5], "code"])
                zero = _cn_adcode_note(table.loc[bad, "code"]) if hierarchy == "cn-adcode" else ""
                raise DataError(
                    f"{len(bad)} codes are not {SCHEME_NAMES[hierarchy]} codes (e.g. {sample}; rows {_rows(bad)}){zero}",
                    where,
                    _invalid_codes_fix(options),
                )
        _check_duplicates(table, where, "dissolve the parts into one (multi)polygon per code, e.g. ogr2ogr -dialect sqlite "
                          "-sql 'SELECT ST_Union(geometry), code ... GROUP BY code'")
        empty = table.index[table.geometry.is_empty]
        if len(empty):
            sample = ", ".join(table.loc[empty[:5], "code"].astype(str))
            raise DataError(f"{len(empty)} units have no polygonal area: empty, or only points or lines after repair "
                            f"(codes {sample}; rows {_rows(empty)})", "geometry", "remove them or give them their polygons")

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
        """Sum values indexed by finest-level code up to `level` (NaN where every member is NaN). Every unit has a
        code at every level (`_fill_parents`), so the sums over a level add up to the sum over the units; values
        under a code that is no unit's have no parent and are left out."""
        parents = pd.Series(self.level_codes(level).values, index=self.codes.values)
        joined = pd.DataFrame({"value": values, "parent": parents.reindex(values.index)})
        return joined.groupby("parent")["value"].sum(min_count=1)

    def geodesic_areas(self, level: str | None = None) -> pd.Series:
        """Ellipsoidal area (m2) of every unit (pyproj.Geod on WGS84, edges as drawn: module function
        `geodesic_areas`), indexed by code, optionally summed to `level`; computed once per level (a copy is returned)."""
        level = self.levels[0] if level is None else level
        if level not in self._areas:
            finest = self.levels[0]
            if finest not in self._areas:
                self._areas[finest] = pd.Series(geodesic_areas(self.table.geometry), index=self.codes.values, name="area_m2")
            if level != finest:
                self._areas[level] = self.aggregate(self._areas[finest], level)
        return self._areas[level].copy()

    def polygons_on(self, grid: Grid) -> gpd.GeoSeries:
        """Each unit's polygons in the grid's CRS, as burned: edges cut to the DENSIFY step in the units' own CRS before
        reprojection (irrmap.core.polygons.to_crs, so a drawn parallel stays one on a projected grid), split at the
        antimeridian and, on a geographic grid reaching past +-180 degrees, repeated 360 degrees over."""
        geoms = to_crs(self.table.geometry, grid.crs)
        return wrapped(geoms, grid.bounds[0], grid.bounds[2]) if grid.is_geographic else geoms

    # ---- zones ------------------------------------------------------------------------------
    def rasterize(self, grid: Grid, chunks: int = 2048) -> xr.DataArray:
        """Lazy int32 zone raster of the units on `grid` (0 outside), computed chunk by chunk."""
        geoms = self.polygons_on(grid)
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


def _check_duplicates(table: pd.DataFrame, where: str, fix: str) -> None:
    """DataError (located at `where`, with `fix`) naming the codes on more than one row of `table` and their rows
    (1-based, `table`'s index); missing codes are left out (`AdminUnits._check` refuses them first in `read`).
    The one duplicate check of `AdminUnits.read` (`_check`) and of the constructor."""
    codes = table["code"]
    dup = table[codes.notna() & codes.duplicated(keep=False)]
    if len(dup):
        groups = dup.groupby("code").apply(lambda g: list(g.index), include_groups=False)
        sample = "; ".join(f"{c}: rows {_rows(ix)}" for c, ix in list(groups.items())[:5])
        raise DataError(f"{len(groups)} codes appear on more than one polygon ({sample}{'; ...' if len(groups) > 5 else ''})",
                        where, fix)


def geodesic_areas(geoms: gpd.GeoSeries) -> np.ndarray:
    """Ellipsoidal areas (m2, one per geometry) of valid (Multi)Polygons in any CRS (geoms.crs set):
    pyproj.Geod (WGS84) on their lon/lat form, each edge followed as drawn in their own CRS.

    Geod joins vertices by geodesics, so the edges are first cut to irrmap.core.polygons.DENSIFY_DEG degrees
    (geographic CRS) or DENSIFY_M metres (projected) in the polygons' own CRS (polygons.densified) and only then
    converted to lon/lat: a lon/lat box's edge along a parallel is measured along the parallel, as the zone raster
    burns it (the Colorado box -109.05..-102.05 x 37..41: 269,216.9 km2, not the 269,154.5 km2 of geodesics between
    its 4 corners). Geod sums signed ring areas; rings are oriented first (shells counter-clockwise, holes
    clockwise), so no absolute value hides a wrongly wound part and derived shapes (clips, unions) need no care."""
    lonlat = oriented(to_crs(densified(geoms), "EPSG:4326", densify=False).values)
    geod = Geod(ellps="WGS84")
    return np.array([_geod_area(geod, g) if not g.is_empty else 0.0 for g in lonlat], dtype=np.float64)


def _geod_area(geod: Geod, g) -> float:
    """geod.geometry_area_perimeter(g)[0]: the same ring areas summed in the same order, so the same bits, with
    each ring's coordinates taken as one numpy array (shapely's ring.xy, which pyproj uses, copies them point by
    point: half the time on a million vertices)."""
    if g.geom_type in ("LineString", "LinearRing"):
        xy = shapely.get_coordinates(g)
        return geod.polygon_area_perimeter(xy[:, 0], xy[:, 1])[0]
    if g.geom_type == "Polygon":
        area = _geod_area(geod, g.exterior)
        for hole in g.interiors:
            area += _geod_area(geod, hole)
        return area
    if hasattr(g, "geoms"):
        total = 0.0
        for part in g.geoms:
            total += _geod_area(geod, part)
        return total
    return geod.geometry_area_perimeter(g)[0]


def overlapping_pairs(geoms, share: float = OVERLAP_SHARE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i, j, overlap) of polygons, i < j, whose intersection is more than `share` of the smaller one's area
    (planar areas in the polygons' CRS: a ratio of two areas side by side); `overlap` is that ratio.

    Candidates are the pairs whose bounding boxes overlap with positive area (shapely.STRtree query); each one's
    intersection is computed (GEOS overlay). The 2,764 Chinese counties (city_full) have 9,740 candidate pairs,
    3,224 with slivers along their shared borders (at most 0.9 % of the smaller county): about 2 s on one core (the
    overlays of near-coincident borders dominate; the 3,222 US counties, whose borders match, take 0.2 s). The result
    is kept per process for the same polygons, so a second read of them costs only the WKB digest."""
    g = np.asarray(geoms, dtype=object)
    key = (hashlib.blake2b(b"".join(shapely.to_wkb(g)), digest_size=16).digest(), share)
    if key not in _OVERLAPS:  # a run reads its units more than once (checks, units stage): measured once per process
        _OVERLAPS[key] = _overlapping_pairs(g, share)
        while len(_OVERLAPS) > 8:
            _OVERLAPS.pop(next(iter(_OVERLAPS)))
    return _OVERLAPS[key]


_OVERLAPS: dict = {}  # overlapping_pairs' results by polygons (WKB digest) and share


def _overlapping_pairs(g: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, j = shapely.STRtree(g).query(g)
    keep = i < j
    i, j = i[keep], j[keep]
    b = shapely.bounds(g)
    open_box = (np.minimum(b[i, 2:], b[j, 2:]) > np.maximum(b[i, :2], b[j, :2])).all(axis=1)  # not only touching boxes
    i, j = i[open_box], j[open_box]
    area = shapely.area(g)
    overlap = shapely.area(shapely.intersection(g[i], g[j]))
    smaller = np.minimum(area[i], area[j])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(smaller > 0, overlap / smaller, 0.0)
    hit = ratio > share
    return i[hit], j[hit], ratio[hit]


def _check_overlaps(table: gpd.GeoDataFrame, code_field: str, paths: list, repaired: np.ndarray | None = None) -> None:
    """DataError naming the units that overlap by more than OVERLAP_SHARE of the smaller one, with the overlap's
    geodesic area and a fix per kind of pair:

    - a pair with a unit that was invalid (`repaired`: positions of the units GEOS make_valid repaired, `_log_repairs`):
      its repair made the overlap (a self-intersecting bow-tie becomes two lobes reaching over the neighbour), so that
      unit's geometry is to be fixed in the source, not the other, valid unit dropped;
    - a pair of valid units where the overlap is more than CONTAINED_SHARE of the smaller one: the smaller lies mostly
      inside the other, a duplicate or an aggregate feature; the features to drop are picked greedily, each time the one
      in most such pairs left (an aggregate covers several units), ties broken by the larger area (the covering one);
    - any other pair of valid units: each reaches into the other less deeply, a border drawn wrong; neither is to be
      dropped, their shared border is to be corrected.
    """
    i, j, ratio = overlapping_pairs(table.geometry.values)
    if not len(i):
        return
    geoms = table.geometry.values
    km2 = geodesic_areas(gpd.GeoSeries(shapely.intersection(geoms[i], geoms[j]), crs=table.crs)) / 1e6
    area = shapely.area(geoms)
    code = lambda k: str(table["code"].iloc[k])  # noqa: E731
    label = lambda k: f"{table['code'].iloc[k]}" + (f" ({table['name'].iloc[k]})" if table["name"].iloc[k] != table["code"].iloc[k] else "")  # noqa: E731
    detail = "; ".join(f"{label(a)} and {label(b)}: {r:.0%} of the smaller, {k:,.1f} km2"
                       for a, b, r, k in list(zip(i, j, ratio, km2))[:6])
    bad = set() if repaired is None else {int(k) for k in repaired}
    pairs = list(zip(i.tolist(), j.tolist(), ratio.tolist()))
    broken = [(a, b) for a, b, _ in pairs if a in bad or b in bad]
    contained = {(a, b) for a, b, r in pairs if a not in bad and b not in bad and r > CONTAINED_SHARE}
    crossing = [(a, b) for a, b, r in pairs if a not in bad and b not in bad and r <= CONTAINED_SHARE]
    source = str(paths[0]) if len(paths) == 1 else "FILE"
    fixes = []
    if broken:
        units = sorted({k for p in broken for k in p if k in bad})
        others = sorted({k for p in broken for k in p if k not in bad})
        fixes.append(f"fix the geometry of unit{'s' if len(units) > 1 else ''} {', '.join(code(k) for k in units[:10])} in the source: "
                     f"{'they were' if len(units) > 1 else 'it was'} invalid, and the repair (GEOS make_valid, see the warning) "
                     f"overlaps {', '.join(code(k) for k in others[:10]) or 'each other'}; redraw or fix it (QGIS 'Fix geometries', "
                     f"ogr2ogr -makevalid units_fixed.gpkg {source}) and check that it no longer covers its neighbours")
    drop = []
    while contained:  # the features to drop: each time the one in most pairs left (ties: the larger)
        counts = pd.Series([k for p in contained for k in p]).value_counts()
        top = max(counts.index[counts == counts.max()], key=lambda k: area[k])
        drop.append(top)
        contained = {p for p in contained if top not in p}
    if drop:
        codes = [code(k) for k in drop]
        where = ", ".join(f"'{c}'" for c in codes[:10])
        fixes.append(f"drop the duplicate or aggregate feature{'s' if len(codes) > 1 else ''} {', '.join(codes[:10])} from the file "
                     f"(it covers most of another unit), e.g. ogr2ogr -where \"{code_field} NOT IN ({where})\" units_fixed.gpkg {source}")
    if crossing:
        fixes.append("correct the shared border of " + ", ".join(f"{code(a)} and {code(b)}" for a, b in crossing[:6])
                     + ("; ..." if len(crossing) > 6 else "") + " in the source (each reaches into the other: snap the border, "
                     "e.g. QGIS 'Snap geometries to layer', and check with its Topology Checker)")
    files = str(paths[0]) if len(paths) == 1 else f"{len(paths)} unit files ({paths[0]}, ...)"
    raise DataError(f"{len(i)} pairs of units overlap by more than {OVERLAP_SHARE:.0%} of the smaller unit ({detail}"
                    f"{'; ...' if len(i) > 6 else ''}): a pixel belongs to one unit only (the later in the file), so a covered unit "
                    "maps nothing and totals over the units count the overlap twice", f"{files} field {code_field}",
                    "; ".join(fixes) + f" (overlaps up to {OVERLAP_SHARE:.0%} of the smaller unit, such as digitising slivers along "
                    "shared borders, are accepted)")


def _field_where(paths: list, field: str) -> str:
    """Where a message about a field of the unit files points: 'FILE field CODE' (or 'N unit files (FIRST, ...) field CODE')."""
    files = str(paths[0]) if len(paths) == 1 else f"{len(paths)} unit files ({paths[0]}, ...)"
    return f"{files} field {field}"


def _cn_adcode_note(bad: pd.Series) -> str:
    """Why codes fail the cn-adcode pattern: the province prefix 11..82, never 0; 100000 is China as a whole."""
    note = " (a cn-adcode starts with a GB/T 2260 province code 11..82, never with 0, so a shorter code did not lose one"
    if (bad == "100000").any():
        note += "; 100000 is China as a whole, e.g. the boundary-line feature with no name of a DataV country file, no unit"
    return note + ")"


# Codes at the finest level that are all parent codes (cn-adcode PP0000 / PPCC00, us-fips SS000): the file holds
# coarser units than the level it is read as. Level name, the scheme's code ending and the finer file to use.
_COARSE_ENDINGS = {"cn-adcode": (("province", "0000", "a county file (e.g. DataV city_full/*.json)"),
                                 ("city", "00", "a county file (e.g. DataV city_full/*.json)")),
                   "us-fips": (("state", "000", "a county file"),)}


def _warn_coarse_codes(codes: pd.Series, hierarchy: str, code_field: str, paths: list) -> None:
    """Warn when every code ends as a coarser level's code does (cn-adcode 110000 ... 820000: provinces read as
    counties); the units are still read (statistics at that level join them)."""
    for level, ending, finer in _COARSE_ENDINGS.get(hierarchy, ()):
        if len(codes) and codes.str.endswith(ending).all():
            finest = next(iter(SCHEMES[hierarchy]))
            log.warning("units: every %s of %s ends in %s (e.g. %s), so the file is at %s level: its %d units are read as "
                        "%s units and every level repeats the %s codes. Fix: for %s units give %s; statistics at %s level "
                        "join these units as they are", code_field, paths[0] if len(paths) == 1 else f"{len(paths)} files", ending,
                        ", ".join(codes.head(3)), level, len(codes), finest, level, finest, finer, level)
            return


def _joined_geometry(wkb: np.ndarray, crs: list[str], counts: list[int]) -> gpd.GeoSeries:
    """Geometries of several files (WKB, the files' `counts` features, each file with the CRS text its file gave)
    in the first file's CRS: each CRS parsed once, and the geometries of each CRS other than the first converted
    together, their edges first cut to the DENSIFY step in their own CRS (irrmap.core.polygons.densified) so that
    they keep their drawn course (a UTM file's straight edge is no straight lon/lat edge)."""
    first = pyproj.CRS.from_user_input(crs[0])
    geoms = shapely.from_wkb(wkb)
    file_crs = np.repeat(np.array(crs, dtype=object), counts)
    for text in dict.fromkeys(crs[1:]):
        other = pyproj.CRS.from_user_input(text)
        if not other.is_exact_same(first):
            part = file_crs == text
            geoms[part] = np.asarray(densified(gpd.GeoSeries(geoms[part], crs=other)).to_crs(first).values)
    return gpd.GeoSeries(geoms, crs=first)


def _rasterize_block(geoms: gpd.GeoSeries, grid: Grid, block_info=None) -> np.ndarray:
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    sub = grid.window_grid(Window(c0, r0, c1 - c0, r1 - r0))
    hits = np.sort(geoms.sindex.query(_box(sub.bounds), predicate="intersects"))
    if len(hits) == 0:
        return np.zeros(sub.shape, dtype=ZONE_DTYPE)
    pairs = ((geoms.values[i], int(i) + 1) for i in hits)
    return rasterize(pairs, out_shape=sub.shape, transform=sub.transform, fill=ZONE_NODATA, dtype=ZONE_DTYPE)


def _log_repairs(table: gpd.GeoDataFrame) -> np.ndarray:
    """Warn about invalid polygons (self-intersections, overlapping parts, ...) before they are repaired; their
    positions in `table` (shapely.is_valid false, missing geometries aside)."""
    geoms = table.geometry.values
    bad = np.flatnonzero(~shapely.is_valid(geoms) & ~shapely.is_missing(geoms))
    if len(bad):
        detail = "; ".join(f"{table['code'].iloc[i]}: {shapely.is_valid_reason(geoms[i])}" for i in bad[:5])
        log.warning("units: %d polygons are invalid and were repaired (GEOS make_valid, 'structure' method: %s%s); "
                    "their areas are those of the repaired polygons. Fix: repair them in the source (QGIS 'Fix geometries', "
                    "ogr2ogr -makevalid) and check the result", len(bad), detail, "; ..." if len(bad) > 5 else "")
    return bad


def _layer_hint(path, options: dict | None = None) -> str:
    """`; pick a layer with [units].layer (layers: a (12 features, Polygon), ...)` for a multi-layer file, else ''
    (the caller's layer option, `unit_option`)."""
    layers = describe_layers(path)
    return f"; pick a layer with {unit_option(options, 'layer') or 'a layer option'} (layers: {', '.join(layers)})" if len(layers) > 1 else ""


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
        encoding=section.encoding,
        options=UNIT_OPTIONS,
    )


__all__ = ["OVERLAP_SHARE", "UNIT_OPTIONS", "ZONE_NODATA", "AdminUnits", "normalise_codes", "overlapping_pairs", "parents_from_codes",
           "read_units_from_config", "unit_option"]
