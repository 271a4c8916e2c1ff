"""`irrmap suitability`: slope, distance to water, aridity index and the weighted suitability overlay."""

from __future__ import annotations

from irrmap.app.cli.value_types import CHUNK, FINITE, NON_NEGATIVE, NON_NEGATIVE_FLOAT, POSITIVE, POSITIVE_FLOAT, SCALE, SEED, SIZE
from irrmap.app.cli import add_group

FACTOR_ORDER = ("elevation", "distance", "slope", "aridity")
_NO_COG = ("tiled DEFLATE GeoTIFF without overviews (as gdaldem -co TILED=YES -co COMPRESS=DEFLATE), about half the "
           "writing time of the default Cloud-Optimized GeoTIFF")


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)

    p = cmds.add_parser("slope", help="Horn slope of a DEM (as gdaldem slope -compute_edges), degrees or percent",
                        description="Float32 GeoTIFF on the DEM's own grid; DEM nodata stays nodata (NaN). Spacing is the "
                                    "true ground spacing on the ellipsoid on any CRS (geographic, Web Mercator, MODIS sinusoidal, ...); "
                                    "on UTM inside its zone the pixel size, as gdaldem.")
    p.add_argument("dem", metavar="DEM")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--percent", action="store_true", help="percent rise instead of degrees")
    p.add_argument("--no-edges", action="store_true", help="leave edge pixels nodata (gdaldem without -compute_edges)")
    p.add_argument("--z-factor", type=SCALE, default=1.0, help="elevation units to metres (0.3048 for feet)")
    p.add_argument("--chunk", type=CHUNK, default=2048, help="block edge in pixels")
    p.add_argument("--no-cog", action="store_true", help=_NO_COG)
    p.set_defaults(func=_slope)

    p = cmds.add_parser("distance", help="distance to the nearest water pixel in metres on the ellipsoid (exact EDT on UTM and geographic grids)",
                        description="Float32 metres on the mask's grid. By default any non-zero, non-nodata pixel is water (a mask "
                                    "with no 0 among its valid values, or an occurrence/percent, is refused: see --threshold); "
                                    "mask nodata stays nodata. With --max-distance the result is capped and computed block by block.")
    p.add_argument("mask", metavar="MASK")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--water-values", type=FINITE, nargs="+", metavar="V", help="class codes that are water")
    p.add_argument("--threshold", type=FINITE, metavar="T", help="values >= T are water (e.g. JRC occurrence 50)")
    p.add_argument("--max-distance", type=SIZE, metavar="M", help="cap in metres; farther pixels get M")
    p.add_argument("--chunk", type=CHUNK, default=2048, help="block edge in pixels (read blocks; computed blocks with --max-distance)")
    p.add_argument("--no-cog", action="store_true", help=_NO_COG)
    p.set_defaults(func=_distance)

    p = cmds.add_parser("aridity", help="aridity index AI = sum P / sum PET",
                        description="Either --precip and --pet (one raster per time step, summed; the same number of steps "
                                    "each, or 12 monthly rasters against one annual total), or --precip with "
                                    "--temperature (degC), --humidity (%) and --radiation (mean shortwave, W m-2) per step "
                                    "for Priestley-Taylor PET (METHOD.md section 2). All rasters are read onto the grid of "
                                    "the first --precip raster. Output: Float32 AI.")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--precip", nargs="+", required=True, metavar="P", help="precipitation total per step (mm)")
    p.add_argument("--pet", nargs="+", metavar="PET", help="PET total per step (mm)")
    p.add_argument("--temperature", nargs="+", metavar="T", help="mean air temperature per step (degC)")
    p.add_argument("--humidity", nargs="+", metavar="RH", help="mean relative humidity per step (percent)")
    p.add_argument("--radiation", nargs="+", metavar="RS", help="mean incoming shortwave per step (W m-2)")
    p.add_argument("--albedo", default="0.23", help="albedo: a number or a raster (default 0.23)")
    p.add_argument("--step-days", type=POSITIVE_FLOAT, default=1.0, help="days per step, to turn mean daily PET into the step's total (default 1)")
    p.set_defaults(func=_aridity)

    p = cmds.add_parser("overlay", help="reclassify the four factors per unit and overlay them into the score S",
                        description="S = sum w_i * class_i / n_i with the classes of METHOD.md section 2 (elevation and distance "
                                    "relative to each unit's minimum). All rasters are read onto the grid of --zones. "
                                    "Weights: --weights E D S A (normalised with a warning if they do not sum to 1) or --ahp CSV "
                                    "(4 x 4 pairwise matrix in the order elevation, distance, slope, aridity); default equal weights.")
    p.add_argument("out", metavar="OUT", help="suitability score S (Float32)")
    p.add_argument("--zones", required=True, help="integer unit raster (0 = outside any unit)")
    p.add_argument("--elevation", required=True, help="DEM (m)")
    p.add_argument("--slope", required=True, help="slope in percent (irrmap suitability slope --percent)")
    p.add_argument("--distance", required=True, help="distance to water (m)")
    p.add_argument("--aridity", required=True, help="aridity index")
    p.add_argument("--crop", help="cropland fraction or mask (crop pixel = value > 0), for the few-crop rule")
    p.add_argument("--weights", type=NON_NEGATIVE_FLOAT, nargs=4, metavar=("E", "D", "S", "A"), help="weights of elevation, distance, slope, aridity")
    p.add_argument("--ahp", help="CSV with the 4 x 4 AHP pairwise matrix (no header)")
    p.add_argument("--min-crop-pixels", type=NON_NEGATIVE, default=50, help="units with fewer crop pixels get class 1 everywhere (0 = off)")
    p.add_argument("--flat-zones", nargs="*", metavar="ID",
                   help="apply the flat-unit rule (relief P95-P5 <= --flat-relief m: aridity 10, distance 4) to these zone ids; no ids = all units")
    p.add_argument("--flat-relief", type=NON_NEGATIVE_FLOAT, default=100.0, help="relief threshold of the flat-unit rule (m)")
    p.add_argument("--classes-out", help="also write the four class rasters as one 4-band GeoTIFF")
    p.add_argument("--table", help="also write the per-unit table (minima, relief, crop pixels) as CSV")
    p.add_argument("--chunk", type=CHUNK, default=2048, help="block edge in pixels")
    p.set_defaults(func=_overlay)

    p = cmds.add_parser("search", help="seeded weight search: best summed kappa of the S-score threshold maps per province",
                        description="On a finished `irrmap run` (suitability, features and training.thresholds stages, and "
                                    "[evaluation].points): try N random normalised weight vectors (elevation, distance, slope, "
                                    "aridity), split the S x VI_max scores per county to the statistics, and keep per group the "
                                    "vector whose threshold maps have the best summed Cohen's kappa at the reference points "
                                    "(ties: the most even vector). Prints JSON; the points then no longer give an independent "
                                    "accuracy for a map built with these weights.")
    p.add_argument("config", help="the run's TOML config")
    p.add_argument("-n", type=POSITIVE, default=500, help="candidate weight vectors (default 500, the method's)")
    p.add_argument("--seed", type=SEED, help="seed of the candidates (default: [run].seed)")
    p.add_argument("--by", default="province", help="group of units searched separately: province (default), city or none")
    p.add_argument("--vi", nargs="+", default=["evi_max", "ndvi_max", "gi_max"], help="VI maxima (features outputs) whose S-scores are split")
    p.add_argument("--out", help="also write the JSON here")
    p.set_defaults(func=_search)


def _check_dem_unit(path, where: str, z_factor: float = 1.0, z_option: bool = True) -> None:
    """The unit guard of `irrmap run` for a DEM given on the command line: a unit type (or 'units' tag) in feet
    or km, as irrmap.app.stages.inputs.check_unit_type refuses it (same FEET table, irrmap.suitability.guards),
    unless --z-factor converts it. Metadata only. (stages.inputs itself is not imported: it loads geopandas, which
    these commands never need.)"""
    from irrmap.suitability.guards import FEET, check_factor_units, unit_tag

    to_metres = (lambda f: f"pass --z-factor {f:.10g}") if z_option else (
        lambda f: f"convert it to metres: gdal_calc.py -A {path} --outfile OUT.tif --calc 'A*{f:.10g}'")
    if z_factor == 1.0:  # a --z-factor converts the unit itself, as a config's scale does
        check_factor_units(path, "elevation", where, dem_hint=to_metres(FEET.get(unit_tag(path), 0.3048)))


def _range_fixes(path, z_option: bool = True) -> dict:
    """check_elevation_range's fixes worded for the command line (gdal_edit.py, --z-factor), not config keys."""
    return dict(nodata_fix=f"declare the void value as nodata: gdal_edit.py -a_nodata {{value}} {path}",
                unit_fix="check the DEM's unit (metres expected" + ("; --z-factor 0.3048 for feet" if z_option else "")
                         + ") and its nodata value")


def _slope(args) -> int:
    from pathlib import Path

    from irrmap.core.errors import IrrmapError
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import read_raster
    from irrmap.core.raster_write import write_raster
    from irrmap.core.relative_path import relative_to_folder
    from irrmap.suitability.elevation import ElevationTally
    from irrmap.suitability.slope import slope

    grid = Grid.from_raster(args.dem)
    dem = read_raster(args.dem, grid, chunks=args.chunk)
    _check_dem_unit(args.dem, f"DEM {args.dem}", z_factor=args.z_factor)
    # the elevation range (undeclared voids, a wrong unit, no valid pixel: `irrmap run`'s DEM guard) is gathered
    # while the slope reads the DEM, and judged once it is written: a refused DEM's slope is removed
    tally = ElevationTally()
    out = slope(tally.watch(dem, args.z_factor), percent=args.percent, compute_edges=not args.no_edges, z_factor=args.z_factor)
    write_raster(args.out, out, dtype="float32", descriptions=["slope_percent" if args.percent else "slope_degree"], cog=not args.no_cog,
                 tags={"irrmap_stage": "suitability.slope", "source": relative_to_folder(args.dem, Path(args.out).parent),
                       "units": out.attrs["units"]})
    try:
        tally.check(f"DEM {args.dem}", **_range_fixes(args.dem))
    except IrrmapError:
        Path(args.out).unlink(missing_ok=True)
        raise
    print(f"slope ({out.attrs['units']}) -> {args.out}")
    return 0


def _distance(args) -> int:
    import logging
    import threading
    from pathlib import Path

    import dask

    from irrmap.core.errors import DataError
    from irrmap.core.grid import Grid
    from irrmap.core.plausibility import check_has_valid
    from irrmap.core.raster_read import read_raster
    from irrmap.core.raster_write import write_raster
    from irrmap.core.relative_path import relative_to_folder
    from irrmap.suitability.distance import (
        check_default_mask,
        distance_to_water,
        load_kernel,
        mask_summary,
        water_mask,
    )

    loading = threading.Thread(target=load_kernel, name="load distance kernel", daemon=True)
    loading.start()  # numba loads the compiled transform while the mask is read
    check_has_valid(args.mask, f"MASK {args.mask}")  # an all-nodata mask is refused, as `irrmap run` refuses it
    grid = Grid.from_raster(args.mask)
    raw = read_raster(args.mask, grid, chunks=args.chunk)
    water = water_mask(raw, values=args.water_values, threshold=args.threshold)
    default = args.water_values is None and args.threshold is None
    summary = mask_summary(raw) if default else ()  # judged in the same pass as the mask is read
    whole = args.max_distance is None and grid.metric_kind != "general"  # general grids stream (a k-d tree of the water)
    if whole:  # the whole grid is one block: store the mask's chunks into one array as they finish
        import dask.array as da
        import numpy as np

        values = np.empty(water.shape, water.dtype)
        # compute() would hold every chunk, then copy them all into one array
        _, *figures = dask.compute(da.store(water.data, values, lock=False, compute=False), *summary)
        water = water.copy(data=values)
        n_water = int((values > 0).sum())
    else:
        n_water, *figures = dask.compute((water.data > 0).sum(), *summary)
        n_water = int(n_water)
    if default:  # no codes (a share, a DEM), an occurrence 0..100, or no land (0 declared nodata) are refused
        import rasterio

        with rasterio.open(args.mask) as src:
            declared = src.nodata
        check_default_mask(float(figures[0]), bool(figures[1]), f"MASK {args.mask}", minimum=float(figures[2]),
                           codes=int(figures[3]), nodata=declared, path=args.mask, fill_255=bool(figures[4]))
    off_earth = _water_off_earth(grid, water)  # a sinusoidal tile's corners past the 180th meridian: no distance there
    if off_earth:
        logging.getLogger("irrmap.suitability").warning(
            "%s: %d of its %d water pixels lie off the Earth (their centre is outside the projection's valid area: "
            "the corners of a MODIS sinusoidal tile); they are ignored (fix: none needed at the edge of the map; "
            "otherwise check the geotransform with gdalinfo)", args.mask, off_earth, n_water)
    if n_water and n_water == off_earth and args.max_distance is None:
        raise DataError(f"no water pixel on the Earth: all {n_water} water pixels of the mask lie off the Earth (outside "
                        "its projection's valid area); the distance to water would be NaN everywhere", f"MASK {args.mask}",
                        "check the mask's geotransform and CRS (gdalinfo), or pass --max-distance M to give every pixel "
                        "the cap")
    n_water -= off_earth
    if n_water == 0 and args.max_distance is None:
        rule = (f"--water-values {' '.join(map(str, args.water_values))}" if args.water_values is not None else
                f"--threshold {args.threshold:g}" if args.threshold is not None else "non-zero values")
        raise DataError(f"no water pixel in the mask ({rule}): the distance to water would be NaN everywhere", f"MASK {args.mask}",
                        "check --threshold / --water-values against the mask's values (gdalinfo -stats), or pass --max-distance M "
                        "to give every pixel the cap")
    if n_water == 0 and args.max_distance is not None:
        logging.getLogger("irrmap.suitability").warning("%s: no water pixels; distance is %s", args.mask,
                                                        "the cap everywhere")
    loading.join()
    out = distance_to_water(water, max_distance=args.max_distance)
    if whole:  # the result is in memory: the mask's memory goes back before writing (fresh memory
        del raw, water, values  # is slow to touch in a VM)
    write_raster(args.out, out, dtype="float32", descriptions=["distance_to_water_m"], cog=not args.no_cog,
                 tags={"irrmap_stage": "suitability.distance", "source": relative_to_folder(args.mask, Path(args.out).parent), "units": "m",
                       "max_distance": args.max_distance if args.max_distance is not None else "none"})
    print(f"distance to water ({n_water} water pixels) -> {args.out}")
    return 0


def _water_off_earth(grid, water) -> int:
    """Water pixels (> 0) of `water` (a (height, width) DataArray on `grid`, numpy- or dask-backed) whose centre is off
    the Earth (Grid.lonlat NaN: Grid.off_earth_pixels); 0 without reading when the grid has no such pixel."""
    import numpy as np

    if not grid.off_earth_pixels:
        return 0
    n = 0
    for t in grid.tiles(1024):
        w = t.window
        r0, c0 = int(w.row_off), int(w.col_off)
        block = np.asarray(water.data[r0:r0 + int(w.height), c0:c0 + int(w.width)])
        n += int(np.count_nonzero((block > 0) & ~np.isfinite(grid.lonlat(w)[0])))
    return n


def _aridity(args) -> int:
    from irrmap.app.cli.input_options import read_onto
    from irrmap.core.errors import InputError
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import read_raster
    from irrmap.core.raster_write import write_raster
    from irrmap.suitability import guards
    from irrmap.suitability.aridity import aridity_index, pet_steps
    from irrmap.training.distinct_files import check_distinct_files, role

    albedo_raster = None
    try:
        float(args.albedo)
    except ValueError:
        albedo_raster = args.albedo
    check_distinct_files(role("--precip", "precipitation", args.precip), role("--pet", "PET", args.pet),
                         role("--temperature", "temperature", args.temperature), role("--humidity", "humidity", args.humidity),
                         role("--radiation", "radiation", args.radiation), role("--albedo", "albedo", albedo_raster))
    grid = Grid.from_raster(args.precip[0])
    for option in ("--precip", "--pet", "--temperature", "--humidity", "--radiation"):  # all read onto the first --precip's grid
        for path in getattr(args, option[2:]) or ():
            if path != args.precip[0]:
                read_onto(path, grid, option, "first --precip raster", reference_path=args.precip[0])
    if albedo_raster is not None:
        read_onto(albedo_raster, grid, "--albedo", "first --precip raster", reference_path=args.precip[0])

    def read(paths):
        return [read_raster(p, grid) for p in paths]

    def total(rasters):
        out = rasters[0]
        for r in rasters[1:]:
            out = out + r
        return out

    def source(option, paths):
        where = f"{option} {paths[0]}" + (f" (and {len(paths) - 1} more)" if len(paths) > 1 else "")
        return guards.Source(where, lambda f: f"convert the file(s), e.g. gdal_calc.py -A {paths[0]} --outfile OUT.tif "
                                              f"--calc 'A*{f:.10g}', and pass OUT.tif")

    precip = read(args.precip)
    p_src = source("--precip", args.precip)
    if args.pet:
        from irrmap.suitability.aridity import check_step_counts

        check_step_counts(len(args.precip), len(args.pet), f"--precip {args.precip[0]} / --pet {args.pet[0]}")
        pet_src = source("--pet", args.pet)
        # steps of any length, but P and PET of one step share it: their unit tags must not name different periods
        guards.check_climate_tags(args.precip, args.pet, p_src, pet_src, annual=False)
        pets = read(args.pet)
        p_total, pet_total = total(precip), total(pets)  # the step counts were checked above (check_step_counts)
        guards.check_precipitation_pet(p_total, pet_total, p_src, pet_src)
        ai = aridity_index(p_total, pet_total, check=False)  # checked above
    elif args.temperature and args.humidity and args.radiation:
        for option, paths, check in (("--temperature", args.temperature, guards.check_temperature),
                                     ("--humidity", args.humidity, guards.check_humidity),
                                     ("--radiation", args.radiation, guards.check_radiation)):
            for path, raster in zip(paths, read(paths)):
                check(raster, guards.file_source(path, option))
        try:
            albedo = float(args.albedo)
        except ValueError:
            albedo = read_raster(args.albedo, grid)
            guards.check_albedo(albedo, guards.file_source(args.albedo, "--albedo"))
        else:
            from irrmap.core.fractions import fraction_problem

            problem = fraction_problem(albedo, "albedo")
            if problem:  # "23 looks like a percent: use 0.23"
                raise InputError(problem[0], "--albedo", problem[1])
        pets = pet_steps(read(args.temperature), read(args.humidity), read(args.radiation), albedo=albedo,
                         seconds_per_step=args.step_days * 86400.0, n=len(precip))
        n, days = len(precip), len(precip) * args.step_days
        step_fix = (f"{n} --precip step(s) of --step-days {args.step_days:g} cover {days:g} days; --step-days is the days "
                    "each step covers: --step-days 365.25 for annual totals and annual mean meteorology (a mean year, as the demo's pet.tif), "
                    "about 30.44 for months")
        guards.check_precipitation_pet(total(precip), total(pets), p_src, guards.Source("PET from --temperature, --humidity "
                                       "and --radiation", lambda f: step_fix), days=days, pet_fix=step_fix)
        ai = aridity_index(precip, pets, check=False)  # checked above
    else:
        raise InputError("no PET source", "aridity", "give --pet, or --temperature, --humidity and --radiation")
    write_raster(args.out, ai, dtype="float32", descriptions=["aridity_index"],
                 tags={"irrmap_stage": "suitability.aridity", "pet": "rasters" if args.pet else "priestley-taylor", "units": "1"})
    print(f"aridity index -> {args.out}")
    return 0


def _ahp_matrix(path):
    """The AHP pairwise matrix of a headerless table (any separator and decimal mark; cells may be fractions such
    as 1/3), via irrmap.core.tables; InputError naming the lines of cells that are no positive number."""
    import numpy as np

    from irrmap.core.errors import InputError
    from irrmap.core.tables import parse_numbers, read_table

    df = read_table(path, what="AHP matrix", header=False)
    cols = []
    for c in df.columns:
        parts = df[c].astype(str).str.split("/", n=1, expand=True).reindex(columns=[0, 1]).astype(object)
        num, den = (parse_numbers(p, column=c, source=str(path), ungrouped=True) for p in (parts[0], parts[1].fillna("1")))  # judgements 1/9..9: never grouped
        value = num.values / den.values
        if not (value > 0).all():
            lines = ", ".join(map(str, df.index[~(value > 0).to_numpy()]))
            raise InputError(f"AHP matrix column {c}: lines {lines} hold no positive number (or fraction a/b)", str(path),
                             "write positive numbers such as 3, 0.2 or 1/5")
        cols.append(value.to_numpy())
    return np.column_stack(cols)


def _overlay(args) -> int:

    from irrmap.app.cli.input_options import read_onto
    from irrmap.core.output_set import output_set
    from irrmap.core.atomic import atomic_path
    from irrmap.core.grid import Grid
    from irrmap.core.plausibility import check_has_valid
    from irrmap.core.raster_read import read_raster
    from irrmap.core.raster_write import write_raster
    from irrmap.suitability import guards
    from irrmap.suitability.elevation import check_elevation_range
    from irrmap.suitability.overlay import ahp_weights, weighted_overlay
    from irrmap.suitability.reclass import FewCropRule, FlatUnitRule, reclassify
    from irrmap.training.distinct_files import check_distinct_files, role

    check_distinct_files(*(role(f"--{k}", k, getattr(args, k)) for k in ("zones",) + FACTOR_ORDER + ("crop",)))
    for k in ("zones",) + FACTOR_ORDER:
        check_has_valid(getattr(args, k), f"--{k} {getattr(args, k)}")
    for k in FACTOR_ORDER:  # the unit each factor's breaks are in, against the unit its file declares
        guards.check_factor_units(getattr(args, k), k, f"--{k} {getattr(args, k)}")
    grid = Grid.from_raster(args.zones)
    for k in FACTOR_ORDER + ("crop",):  # factors on another grid are read onto the zones' grid: a partial one is warned about
        if getattr(args, k):
            read_onto(getattr(args, k), grid, f"--{k}", "--zones raster", reference_path=args.zones)
    zones = read_raster(args.zones, grid, kind="categorical", chunks=args.chunk)
    rd = {k: read_raster(getattr(args, k), grid, chunks=args.chunk) for k in FACTOR_ORDER}
    _check_dem_unit(args.elevation, f"--elevation {args.elevation}", z_option=False)
    check_elevation_range(rd["elevation"], f"--elevation {args.elevation}", **_range_fixes(args.elevation, z_option=False))
    guards.check_aridity_index(rd["aridity"], guards.file_source(args.aridity, "--aridity"))
    guards.check_slope_values(rd["slope"], guards.file_source(args.slope, "--slope"))
    guards.check_distance_values(rd["distance"], guards.file_source(args.distance, "--distance"))
    crop = read_raster(args.crop, grid, chunks=args.chunk) if args.crop else None
    flat = None
    if args.flat_zones is not None:
        flat = FlatUnitRule(max_relief=args.flat_relief, zones=frozenset(int(z) for z in args.flat_zones) if args.flat_zones else None)
    few = FewCropRule(min_crop_pixels=args.min_crop_pixels) if args.min_crop_pixels > 0 else None
    classes, table = reclassify(rd["elevation"], rd["slope"], rd["distance"], rd["aridity"], zones, crop=crop,
                                flat_rule=flat, few_crop_rule=few, check=False)
    if args.ahp:
        weights = ahp_weights(_ahp_matrix(args.ahp), FACTOR_ORDER).weights
    elif args.weights:
        weights = dict(zip(FACTOR_ORDER, args.weights))
    else:
        weights = {k: 0.25 for k in FACTOR_ORDER}
    s = weighted_overlay(classes, weights)
    tags = {"irrmap_stage": "suitability.overlay", "weights": s.attrs["weights"]}
    # one output set (irrmap.core.output_set; no marker: the files may lie in several folders): written under partial
    # names and renamed into place together at the end, so a stopped run never leaves a new S beside old classes / table
    members = [str(p) for p in (args.out, args.classes_out, args.table) if p]
    with output_set(".", "overlay", members, marker=False) as outs:
        write_raster(outs.path(str(args.out)), s, dtype="float32", descriptions=["suitability"], tags=tags)
        if args.classes_out:
            write_raster(outs.path(str(args.classes_out)), [classes[k] for k in FACTOR_ORDER], dtype="uint8", nodata=0,
                         descriptions=[f"{k}_class" for k in FACTOR_ORDER], tags=tags)
        if args.table:
            with atomic_path(outs.path(str(args.table))) as tmp:
                table.to_csv(tmp)
    print(f"suitability S ({s.attrs['weights']}) -> {args.out}")
    return 0


def _search(args) -> int:
    import json

    from irrmap.app.weight_search_run import search_run_weights, write_result

    result = search_run_weights(args.config, n=args.n, seed=args.seed, by=args.by, vis=tuple(args.vi))
    if args.out:
        write_result(result, args.out)
    print(json.dumps(result, indent=2))
    return 0
