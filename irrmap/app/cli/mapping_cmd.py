"""`irrmap mapping`: predict the irrigation map tile by tile, filter it, aggregate it to blocks of factor x factor pixels (1 km from 4 x 250 m)."""

from __future__ import annotations

import logging
import os

from irrmap.app.cli import add_group
from irrmap.app.cli.value_types import MEMORY_MB, MIN_TILE_SIZE, SCALE, int_arg

log = logging.getLogger(__name__)

# the files `mapping filter` writes into its folder (mapping/filter.py filter_to_files)
FILTER_FILES = ("class.tif", "fraction.tif")


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    p = cmds.add_parser(
        "predict",
        help="predict P(irrigated), class and irrigated fraction on crop pixels, tile by tile (resumable)",
        description="Writes OUT/probability.tif (P x 100, at least 51 where class 1 and at most 50 where class 0), OUT/class.tif (1/0) and OUT/fraction.tif (percent of the pixel), "
                    "uint8 COGs with nodata 255. Finished tiles are kept in OUT/.tiles and skipped when the command is rerun.",
    )
    p.add_argument("model", help="model file from `irrmap models fit` (a pickle: trusted sources only)")
    p.add_argument("--cropland", required=True, help="cropland fraction raster (0..1); defines the grid")
    p.add_argument("--cropland-scale", type=SCALE, default=None, help="scale for the cropland raster (0.01 for percent)")
    p.add_argument("--predictor", action="append", default=[], metavar="NAME=PATH",
                   help="predictor raster named as in the model card (repeat, any order); lon/lat are derived from the grid if absent")
    p.add_argument("--zones", help="zone raster (irrmap units rasterize) for province/county models; its ids are joined to the "
                                   "model's units through the lookup CSV beside it (ZONES.csv, or units.csv of a run)")
    p.add_argument("--zone-table", metavar="CSV", help="lookup of the zone raster (columns zone, code) when it is not beside it")
    p.add_argument("--align", action="store_true",
                   help="resample predictors and zones on other grids onto the cropland grid (default: error)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--memory-mb", type=MEMORY_MB, default=512, help="memory budget that sets the tile size (default 512)")
    p.add_argument("--jobs", type=int_arg(0), default=None, help="prediction threads (0 or default: all cores)")
    p.add_argument("--tile-size", type=int_arg(MIN_TILE_SIZE, why="smaller tiles cost more in per-tile overhead than they save"),
                   default=None, help=f"tile edge in pixels, {MIN_TILE_SIZE} or more (overrides --memory-mb)")
    p.add_argument("--restart", action="store_true", help="ignore tiles saved by an earlier run")
    p.set_defaults(func=_predict)

    p = cmds.add_parser("filter", help="7x7 isolated-pixel/hole rule, optional majority filter and minimum mapping unit",
                        description="Writes OUT/class.tif and OUT/fraction.tif (uint8, nodata 255).")
    p.add_argument("map", help="class.tif from `irrmap mapping predict`")
    p.add_argument("--cropland", required=True, help="cropland fraction raster the map was predicted with")
    p.add_argument("--cropland-scale", type=SCALE, default=None, help="scale for the cropland raster (0.01 for percent)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--align", action="store_true", help="resample a cropland on another grid onto the map's grid (default: error)")
    p.add_argument("--no-rule", action="store_true", help="skip the 7x7 rule")
    # --isolated/--hole/--majority/--mmu: ranges checked by mapping.filter.filter_map (InputError, exit 2, naming them)
    p.add_argument("--isolated", type=int, default=2, help="drop irrigated pixels with at most this many irrigated in 7x7 (default 2)")
    p.add_argument("--hole", type=int, default=47, help="fill 7x7 windows around pixels with at least this many (default 47)")
    p.add_argument("--majority", type=int, default=0, metavar="K", help="majority filter window (odd, e.g. 3; default off)")
    p.add_argument("--mmu", type=int, default=0, metavar="PIXELS", help="drop irrigated patches smaller than this (default off)")
    p.set_defaults(func=_filter)

    p = cmds.add_parser(
        "aggregate", help="irrigated area (m2) per factor x factor block (1 km from 250 m)",
        description="With --cropland, MAP is a class map (class.tif) and the area is class 1 x the cropland fraction x true "
                    "pixel area: the run's mapping/irrigated_area_1km.tif and irrigated_area_by_unit.csv. Without it MAP is "
                    "a fraction map (fraction.tif, percent of the pixel, rounded to whole percent: warned about). A cell with "
                    "no valid pixel is nodata; a cell with some nodata pixels (with --cropland also crop pixels the class map "
                    "leaves unpredicted, 255, summed as 0) holds the sum of its valid pixels (a lower bound of its area): their number is printed and written to the file's tag partly_known_cells.")
    p.add_argument("map", help="class.tif with --cropland (the run's rule); else fraction.tif (percent) from predict or filter")
    p.add_argument("--cropland", default=None, help="cropland fraction raster (0..1) the map was predicted with: MAP is then "
                                                    "the class map and the area is class 1 x cropland (as `irrmap run`)")
    p.add_argument("--cropland-scale", type=SCALE, default=None, help="scale for the cropland raster (0.01 for percent)")
    p.add_argument("--align", action="store_true", help="resample a cropland on another grid onto the map's grid (default: error)")
    p.add_argument("--out", required=True, help="output GeoTIFF (float32 m2 per cell)")
    p.add_argument("--factor", type=int_arg(2, why="1 would copy the map"), default=4,
                   help="pixels per side of an output cell, 2 or more (default 4: 1 km from 250 m)")
    p.add_argument("--scale", type=SCALE, default=None,
                   help="fraction map only: value x scale = irrigated fraction of the pixel (default 0.01: a percent map, "
                        "checked; 1 for a 0..1 fraction)")
    p.set_defaults(func=_aggregate)


def _predict(args) -> int:
    import dask.array as da

    from irrmap.app.cli.input_options import check_on_grid, named_values
    from irrmap.core.grid import Grid
    from irrmap.core.output_paths import refuse_overwriting_inputs
    from irrmap.core.raster_read import read_raster
    from irrmap.core.valid_share import refuse_empty_output
    from irrmap.mapping.predict import (
        OUTPUTS,
        predict_to_files,
        read_zone_lookup,
        tile_size_for,
        zone_keys_for,
        zone_lookup_path,
    )
    from irrmap.models.persistence import load_model

    predictor_paths = named_values(args.predictor, "--predictor", "evi_max=features/evi_max.tif")  # a repeated name is refused
    check_distinct_predictors(predictor_paths, args.cropland)
    refuse_overwriting_inputs({"MODEL": args.model, "--cropland": args.cropland, "--zones": args.zones, "--zone-table": args.zone_table,
                               **{f"--predictor {n}": p for n, p in predictor_paths.items()}},
                              [os.path.join(args.out, f"{n}.tif") for n in OUTPUTS], folder=args.out, own_marker=".predict_done.json")
    model, card = load_model(args.model)
    check_predictor_names_given(card["features"], predictor_paths)
    order = [f for f in card["features"] if f in predictor_paths]
    if len(order) == len(predictor_paths):  # named predictors: taken in the model's order, whatever order they were given in
        predictor_paths = {f: predictor_paths[f] for f in order}
    grid = Grid.from_raster(args.cropland)
    # nothing is warped silently: inputs off the cropland grid are refused unless --align (as `training thresholds`)
    for name, path in {**{f"predictor {n}": p for n, p in predictor_paths.items()}, **({"zones": args.zones} if args.zones else {})}.items():
        check_on_grid(path, grid, name, args.align, option=f"--{name}", reference_path=args.cropland)
    size = args.tile_size or tile_size_for(len(card["features"]), args.memory_mb, in_flight=args.jobs or os.cpu_count() or 1)
    cropland = read_raster(args.cropland, grid, scale=args.cropland_scale, chunks=size, name="cropland")
    predictors = {n: read_raster(p, grid, chunks=size, name=n) for n, p in predictor_paths.items()}
    zones = read_raster(args.zones, grid, kind="categorical", chunks=size) if args.zones else None
    zone_keys = None
    if zones is not None and getattr(model, "scope", "global") != "global":
        # join the raster's ids to the model's units on unit codes (its lookup CSV), never on bare ids
        table = zone_lookup_path(args.zones, args.zone_table)
        lookup = read_zone_lookup(table) if table is not None else None
        ids = da.unique(da.asarray(zones.data)).compute()  # block by block: the zone raster is never whole in memory
        nodata = zones.attrs.get("nodata")
        ids = ids[ids != nodata] if nodata is not None else ids
        zone_keys = zone_keys_for(model, ids, lookup, args.zones, None if table is None else str(table))
    paths = predict_to_files(args.model, cropland, predictors, zones, args.out, memory_mb=args.memory_mb, n_jobs=args.jobs,
                             tile_size=size, resume=not args.restart, zone_keys=zone_keys)
    refuse_empty_output(paths["probability"], [("--cropland", args.cropland), *((f"--predictor {n}", p) for n, p in predictor_paths.items()),
                                               *((("--zones", args.zones),) if args.zones else ())],
                        what="the irrigation map", also=[p for n, p in paths.items() if n != "probability"],
                        fix="give cropland with crop pixels (values > 0) and predictors valid there, on one area (gdalinfo -stats)")
    for name, p in paths.items():
        print(f"{name}: {p}")
    return 0


def check_predictor_names_given(features, paths: dict[str, str]) -> None:
    """InputError (naming --predictor) when the --predictor names are not the model card's `features`: one missing
    (lon/lat, mapping.predict.DERIVED, may be left out: they are derived from the grid) or one the model does not
    use. The order on the command line is free: predictors are taken in the card's order."""
    from irrmap.core.errors import InputError
    from irrmap.mapping.predict import DERIVED

    missing = [f for f in features if f not in paths and f not in DERIVED]
    extra = [n for n in paths if n not in features]
    if missing or extra:
        found = "; ".join(t for t in (f"missing {', '.join(missing)}" if missing else "",
                                      f"not a feature of the model: {', '.join(extra)}" if extra else "") if t)
        raise InputError(f"the predictors differ from the model card's features ({found})", "--predictor",
                         f"give --predictor NAME=PATH once for each of {', '.join(features)} (any order; lon/lat are derived "
                         "from the grid when not given)")


def check_distinct_predictors(paths: dict[str, str], cropland: str | None = None) -> None:
    """DataError when two predictor names read the same data: the same file (path, or inode through a link) or two
    files of one size with the same SHA-256. The model would take one layer for two of its features (e.g. sevi
    given the sndvi file) and predict without a word. A predictor named `cropland` may be the --cropland file."""
    from irrmap.core.errors import DataError
    from irrmap.core.file_identity import file_identities

    by_path = file_identities(list(paths.values()) + ([cropland] if cropland is not None else []))
    ids = {name: by_path[str(p)] for name, p in paths.items()}
    crop_id = by_path[str(cropland)] if cropland is not None else None
    seen: dict[str, str] = {}
    for name, i in ids.items():
        first = seen.setdefault(i, name)
        if first != name:
            how = "the same file" if paths[first] == paths[name] else "files with identical bytes (same SHA-256)"
            raise DataError(f"predictors {first} ({paths[first]}) and {name} ({paths[name]}) read the same data ({how}), but the "
                            "model was trained on two different layers", f"--predictor {name}",
                            f"point --predictor {name} (or {first}) at its own raster (the run's features/, aligned/, suitability/)")
        if crop_id is not None and i == crop_id and not crop_id.startswith(("path:", "name:")) and name != "cropland":
            raise DataError(f"predictor {name} ({paths[name]}) is the --cropland file, but the model was trained on another layer "
                            "for it", f"--predictor {name}", f"point --predictor {name} at its own raster")


def _filter(args) -> int:
    from irrmap.app.cli.input_options import check_on_grid
    from irrmap.core.errors import InputError
    from irrmap.core.grid import Grid
    from irrmap.core.output_paths import refuse_overwriting_inputs
    from irrmap.core.raster_read import open_raster, read_raster
    from irrmap.core.valid_share import refuse_empty_output
    from irrmap.mapping.filter import filter_to_files

    refuse_overwriting_inputs({"MAP": args.map, "--cropland": args.cropland}, [os.path.join(args.out, f) for f in FILTER_FILES],
                              folder=args.out)
    grid = Grid.from_raster(args.map)
    with open_raster(args.map) as src:
        desc = " ".join(d or "" for d in src.descriptions)
    if "P(irrigated)" in desc or "percent" in desc:
        raise InputError(f"this is not a class map (band: {desc!r})", args.map, "filter class.tif from `irrmap mapping predict`")
    check_on_grid(args.cropland, grid, "cropland", args.align, reference="class map", option="--cropland", reference_path=args.map)
    classes = read_raster(args.map, grid, kind="categorical")
    cropland = read_raster(args.cropland, grid, scale=args.cropland_scale, area_share=True, name=str(args.cropland))  # --align: half-known rule
    paths = filter_to_files(classes, cropland, args.out, rule=not args.no_rule, isolated=args.isolated, hole=args.hole,
                            majority_size=args.majority, mmu=args.mmu)
    refuse_empty_output(paths["class"], [("MAP", args.map), ("--cropland", args.cropland)], what="the filtered map",
                        also=[p for n, p in paths.items() if n != "class"],
                        fix="filter a class map with mapped pixels (class.tif of `irrmap mapping predict`) and its cropland")
    from irrmap.mapping.filter_summary import changes_text, filter_changes

    after = read_raster(paths["class"], grid, kind="categorical")
    print("filter: " + changes_text(filter_changes(classes, after, cropland, grid), rule=not args.no_rule,
                                     majority=args.majority, mmu=args.mmu))
    for name, p in paths.items():
        print(f"{name}: {p}")
    return 0


def _aggregate(args) -> int:
    from irrmap.core.output_paths import refuse_overwriting_inputs
    from irrmap.core.valid_share import refuse_empty_output
    from irrmap.mapping.aggregate import aggregate_to_file, partly_known_cells

    inputs = {"MAP": args.map, **({"--cropland": args.cropland} if args.cropland else {})}
    refuse_overwriting_inputs(inputs, [args.out])
    if args.cropland:
        share, scale, domain, unknown = _class_share(args)
    else:
        (share, scale, domain), unknown = _percent_fraction(args), None
    partial = partly_known_cells(share, args.factor, nodata=None, domain=domain, unknown=unknown)
    tags = {"area": "class 1 x cropland fraction x true pixel area"} if args.cropland else {}
    path = aggregate_to_file(share, args.out, factor=args.factor, scale=scale, nodata=None, domain=domain,
                             tags=tags | {"partly_known_cells": partial})
    refuse_empty_output(path, list(inputs.items()), what="the area map",
                        fix="aggregate a map with data (class.tif with --cropland, or fraction.tif of `irrmap mapping "
                            "predict` or `filter`; gdalinfo -stats)")
    print(f"irrigated area per {args.factor}x{args.factor} cell (m2) -> {path}")
    if partial:
        why = ", without cropland data, or crop pixels the class map leaves unpredicted (255)" if args.cropland else ""
        print(f"{partial} cells are partly known (some of their pixels are nodata{why}): "
              "each holds the sum of its valid pixels only, a lower bound of its area (tag partly_known_cells)")
    return 0


def _class_share(args):
    """(share, 1.0, domain, unknown) for --cropland: the run's rule (app/stages/mapping.py), class 1 of MAP x the float
    cropland fraction, counted where the cropland has data (domain); unknown (mapping.aggregate.unpredicted_crop):
    pixels without cropland data or crop pixels MAP leaves unpredicted, which make a cell partly known. InputError naming MAP for a probability or percent map,
    or --scale given (it applies to fraction maps only)."""
    from irrmap.app.cli.input_options import check_on_grid
    from irrmap.core.errors import InputError
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import open_raster, read_raster
    from irrmap.mapping.aggregate import irrigated_share_map, unpredicted_crop

    if args.scale is not None:
        raise InputError("--scale applies to a fraction map; with --cropland MAP is a class map (1 irrigated, 0 not)", "--scale",
                         "drop --scale (give --cropland-scale 0.01 for a percent cropland)")
    grid = Grid.from_raster(args.map)
    with open_raster(args.map) as src:
        desc = " ".join(d or "" for d in src.descriptions)
    if "P(irrigated)" in desc or "percent" in desc:
        raise InputError(f"with --cropland MAP must be a class map, not this one (band: {desc!r})", args.map,
                         "give class.tif of `irrmap mapping filter` (or predict) with --cropland, or drop --cropland to sum fraction.tif")
    check_on_grid(args.cropland, grid, "cropland", args.align, reference="class map", option="--cropland", reference_path=args.map)
    cropland = read_raster(args.cropland, grid, scale=args.cropland_scale, area_share=True, name=str(args.cropland))  # --align: half-known rule
    classes = read_raster(args.map, grid, kind="categorical")
    share = irrigated_share_map(classes, cropland, where=str(args.map), cropland_where=str(args.cropland))
    return share, 1.0, cropland.notnull(), unpredicted_crop(classes, cropland)


def _percent_fraction(args):
    """(fraction, scale, None) for a fraction map (mapping.aggregate.check_fraction_input); a percent map is warned
    about: fraction.tif holds round(100 x cropland) per irrigated pixel, so its sum differs from the run's areas."""
    from irrmap.mapping.aggregate import check_fraction_input, read_fraction_map

    scale = check_fraction_input(args.map, args.scale)  # a class, probability, 0..1 or >100 map is refused, not summed
    if scale == 0.01:
        log.warning("%s: a percent fraction map is rounded to whole percent per pixel (0 below 0.5 %%), so its area differs "
                    "from the run's irrigated_area_1km.tif; for that product give the class map and the cropland: "
                    "irrmap mapping aggregate class.tif --cropland cropland.tif --out OUT", args.map)
    return read_fraction_map(args.map), scale, None  # the file's scale/offset applied, NaN where missing
