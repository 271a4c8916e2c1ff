"""`irrmap features`: annual composites of VI time series (QA-aware), GI/NDWI/AGI, N-scores and S-scores."""

from __future__ import annotations

from irrmap.app.cli import add_group
from irrmap.app.cli.value_types import (
    CHUNK,
    FINITE,
    POSITIVE_FLOAT,
    SCALE,
    fraction_arg,
)

STAT_CHOICES = ("max", "min", "range", "median", "std", "mean", "count")


def _decoding_args(p) -> None:
    p.add_argument("--preset", choices=("mod13q1", "mod09", "none"), default="none",
                   help="decoding preset: mod13q1 = scale 1e-4, fill -3000 and 65531, valid raw range -2000..10000; "
                        "mod09 = scale 1e-4, fill -28672, valid -100..16000 (explicit options override it)")
    p.add_argument("--scale", type=SCALE, help="scale factor applied to raw values (MODIS: 1e-4)")
    p.add_argument("--nodata", type=FINITE, metavar="V", help="raw nodata value (overrides the file's)")
    p.add_argument("--fill", type=FINITE, nargs="+", metavar="V", help="further raw fill values (e.g. -3000 65531)")
    p.add_argument("--valid-range", type=FINITE, nargs=2, metavar=("LO", "HI"), help="valid raw range; values outside are missing")
    p.add_argument("--date-pattern", metavar="PAT", help="date in the file names, strptime style: %%Y %%m %%d %%j "
                   "(e.g. 'A%%Y%%j' for MOD13Q1.A2010129..., '%%Y-%%m-%%d'); default: try common patterns")
    p.add_argument("--chunk", type=CHUNK, default=512, help="block edge in pixels (memory ~ dates x chunk^2 x 4 B per block)")


def _season_start(text: str) -> tuple[int, int]:
    """--season-start MM-DD as (month, day) (irrmap.core.season.parse_season_start); argparse.ArgumentTypeError
    (argparse names the option, exit 2) for anything else."""
    import argparse

    from irrmap.core.season import parse_season_start

    try:
        return parse_season_start(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _year_args(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--year", type=int, metavar="YYYY", help="composite only the dates of the season YYYY: the calendar year "
                   "YYYY, or with --season-start the year-long season ending in YYYY (needed, or --allow-multiyear, when "
                   "the dates span more than a year)")
    g.add_argument("--allow-multiyear", action="store_true", help="composite every date even when they span more than a year")
    p.add_argument("--season-start", type=_season_start, metavar="MM-DD", help="first day of the season --year names "
                   "(default 01-01: the calendar year). A season crossing New Year is named by the year of its harvest "
                   "(FAOSTAT's convention): --year 2014 --season-start 09-01 takes 2013-09-01 to 2014-08-31 (the 2013/14 "
                   "soy season of central Brazil)")


def _mixed_args(p, what: str) -> None:
    g = p.add_argument_group("mixed-pixel adjustment", "the run's [features] mixed = true (its default): the annual maximum "
                             f"of {what} x the cropland share where 0 < cropland < --mixed-upper and the forest/grass share >= "
                             "the urban/water/unused share (METHOD.md section 1; training.mixed_pixels). Give the three 0..1 "
                             "share rasters the run reads (its output/aligned/cropland.tif, forest_grass.tif, other_cover.tif) "
                             "to get its <name>_max; each is read onto the grid of the series as the run reads a share "
                             "(irrmap.core.raster_read, area_share). Only the max band is adjusted; the file gets a "
                             "mixed_pixels tag")
    g.add_argument("--cropland", metavar="FILE", help="cropland share raster (0..1): turns the adjustment on (needs --natural and --other)")
    g.add_argument("--natural", metavar="FILE", help="forest/grass share raster (0..1)")
    g.add_argument("--other", metavar="FILE", help="urban/water/unused share raster (0..1)")
    g.add_argument("--mixed-upper", type=fraction_arg(low_open=True), metavar="F", help="cropland share from which a pixel "
                   "counts as pure crop, not mixed (default 0.9: METHOD.md section 1, [features].mixed_upper)")


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)

    p = cmds.add_parser("composite", help="annual statistics (max, min, range, median, std, ...) of a VI time series",
                        description="One band per --stat (band descriptions <name>_<stat>), Float32 with NaN nodata, on the grid "
                                    "of the first file. FILE...: per-date rasters (the date is parsed from each name), one folder, "
                                    "or one multi-band raster. Statistics use the valid dates only (nodata, fill values, outside "
                                    "the valid range and QA-rejected dates are skipped).")
    p.add_argument("out", metavar="OUT")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--stat", action="append", choices=STAT_CHOICES, help="statistic (repeatable; default max)")
    _decoding_args(p)
    p.add_argument("--band", metavar="N|NAME", help="layer of each file to read: its number or name (band description), e.g. 1 or "
                   "NDVI; for a NetCDF/Zarr cube the variable. Needed when the files hold several layers")
    p.add_argument("--qa", nargs="+", metavar="QA_FILES", help="MOD13Q1 VI_Quality rasters (or a folder), paired with the files by date; "
                   "for a cube, the QA variable's name")
    p.add_argument("--qa-contains", metavar="TEXT", help="keep only QA files whose name holds TEXT (e.g. VI_Quality)")
    p.add_argument("--qa-band", metavar="N|NAME", help="layer of each QA file (number or name), when they hold several")
    p.add_argument("--contains", metavar="TEXT", help="keep only input files whose name holds TEXT (e.g. NDVI)")
    p.add_argument("--qa-modland", type=int, nargs="+", default=[0, 1], metavar="C", help="accepted MODLAND_QA classes (bits 0-1; default 0 1)")
    p.add_argument("--qa-max-usefulness", type=int, default=12, help="highest accepted VI usefulness (bits 2-5; default 12)")
    p.add_argument("--qa-allow", nargs="*", default=[], choices=("mixed_clouds", "snow", "shadow"),
                   help="flags not to reject (default: pixels with mixed clouds, snow/ice or shadow are rejected)")
    p.add_argument("--qa-reject-adjacent-cloud", action="store_true", help="also reject pixels next to clouds (bit 8)")
    p.add_argument("--name", default="vi", help="prefix of the band descriptions (default vi)")
    p.add_argument("--ddof", type=int, default=0, help="delta degrees of freedom of std (0 numpy, 1 MATLAB)")
    _year_args(p)
    _mixed_args(p, "EVI, NDVI, GI or a --name vi")
    p.set_defaults(func=_composite)

    p = cmds.add_parser("index", help="GI or NDWI (Gao) per date from reflectances, then annual statistics; or the run's "
                        "AGI = gi_max x ndwi_max",
                        description="gi = NIR/green (NaN above --max-gi), ndwi = (NIR-SWIR)/(NIR+SWIR) per date, then one band "
                                    "per --stat (gi_<stat>, ndwi_<stat>). agi is the run's agi layer (METHOD.md: AGI = GI x NDWI "
                                    "built from the composites): gi_max x ndwi_max, the annual maxima of the per-date GI and NDWI, "
                                    "one band 'agi' (no --stat); with --cropland/--natural/--other, gi_max is adjusted for mixed "
                                    "pixels first, as the run's is, and the file is tagged so. Inputs are per-date reflectance "
                                    "rasters paired by date (MOD09Q1 band 2, MOD09A1 bands 4 and 5), each band holding the same "
                                    "dates, all decoded alike. Every band is read onto the grid of the first NIR file (a finer band "
                                    "averaged, a coarser one interpolated bilinearly, as `irrmap run` reads them).")
    p.add_argument("index", choices=("gi", "ndwi", "agi"))
    p.add_argument("out", metavar="OUT")
    p.add_argument("--nir", nargs="+", required=True, metavar="FILE", help="NIR rasters (or a folder)")
    p.add_argument("--green", nargs="+", metavar="FILE", help="green rasters (gi, agi)")
    p.add_argument("--swir", nargs="+", metavar="FILE", help="SWIR 1240 nm rasters (ndwi, agi)")
    p.add_argument("--stat", action="append", choices=STAT_CHOICES, help="statistic of gi or ndwi (repeatable; default max); "
                   "not for agi, which is one layer (gi_max x ndwi_max)")
    for band in ("nir", "green", "swir"):
        p.add_argument(f"--{band}-band", metavar="N|NAME", help=f"layer of each {band} file (number or name), when they hold several")
    p.add_argument("--max-gi", type=POSITIVE_FLOAT, default=15.0, help="GI above this is invalid (default 15)")
    _decoding_args(p)
    _year_args(p)
    _mixed_args(p, "gi (as the run adjusts gi_max, also inside agi = gi_max x ndwi_max; not ndwi)")
    p.set_defaults(func=_index)

    p = cmds.add_parser("nscore", help="neighbourhood-normalised score: VI / median VI of reference pixels in a window",
                        description="N = VI / median of VI over the reference pixels (crop + forest/grass) in a WINDOW x WINDOW "
                                    "window clipped at the grid edges (exact sliding-histogram median). Reference pixels: --reference "
                                    "(a 0/1 mask, 1 = reference) or --crop [--natural] shares with crop + natural >= --min-share. "
                                    "All rasters are read onto VI's grid.")
    p.add_argument("vi", metavar="VI", help="annual VI maximum")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--band", metavar="N|NAME", help="layer of VI: number or name (e.g. vi_max of a composite); needed when it has several")
    p.add_argument("--reference", help="reference mask raster: 1 = reference pixel, 0 = not (nodata: not); other values are refused (a share goes to --crop)")
    p.add_argument("--crop", help="cropland fraction raster (0..1)")
    p.add_argument("--natural", help="forest/grass fraction raster (0..1)")
    p.add_argument("--min-share", type=fraction_arg(), default=0.5, help="crop + natural share that makes a reference pixel (default 0.5)")
    p.add_argument("--window", type=int, default=101, help="odd window size in pixels (default 101)")
    p.add_argument("--median-out", help="also write the neighbourhood median")
    p.add_argument("--chunk", type=CHUNK, default=2048, help="block edge in pixels")
    p.set_defaults(func=_nscore)

    p = cmds.add_parser("sscore", help="suitability-weighted score S x VI (N-score in flat units)",
                        description="S x VI on VI's grid; with --zones, --unit-table (the suitability per-unit CSV with a 'flat' "
                                    "column) and --nscore, pixels of flat units take the N-score instead.")
    p.add_argument("vi", metavar="VI", help="annual VI maximum")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--band", metavar="N|NAME", help="layer of VI: number or name (e.g. vi_max of a composite); needed when it has several")
    p.add_argument("--suitability", required=True, help="suitability score S raster")
    p.add_argument("--zones", help="integer unit raster")
    p.add_argument("--unit-table", help="per-unit CSV (zone, ..., flat) from irrmap suitability overlay --table")
    p.add_argument("--nscore", help="N-score raster used in flat units")
    p.add_argument("--chunk", type=CHUNK, default=2048, help="block edge in pixels")
    p.set_defaults(func=_sscore)


def _qa_rule(args):
    from irrmap.sources.modis import QARule

    allow = set(args.qa_allow or ())
    return QARule(modland=tuple(args.qa_modland), max_usefulness=args.qa_max_usefulness,
                  reject_adjacent_cloud=args.qa_reject_adjacent_cloud, reject_mixed_clouds="mixed_clouds" not in allow,
                  reject_snow="snow" not in allow, reject_shadow="shadow" not in allow)


def _source(files):
    return files[0] if len(files) == 1 else list(files)


def _read(files, args, option: str = "FILE", grid=None, **extra):
    """The series of `files` (option `option`) on `grid` (None: the first file's), cut to the season --year names
    (--season-start: its first day, default the calendar year) or refused when it spans over a year without
    --allow-multiyear (training.series_checks.one_year). InputError for --season-start without --year."""
    from irrmap.training.series_checks import one_year
    from irrmap.training.timeseries import read_timeseries

    if args.season_start is not None and args.year is None:
        from irrmap.core.errors import InputError

        raise InputError("--season-start needs --year (the season it starts is named by --year)", "--season-start",
                         "pass --year YYYY too: the season ending in YYYY, e.g. --year 2014 --season-start 09-01 for "
                         "2013-09-01 to 2014-08-31")
    series = read_timeseries(_source(files), grid, pattern=args.date_pattern, preset=None if args.preset == "none" else args.preset,
                             scale=args.scale, nodata=args.nodata, fill_values=tuple(args.fill or ()), valid_range=args.valid_range,
                             chunks=args.chunk, source_option=option, **extra)
    where = f"{option} {files[0]}" + (f" (and {len(files) - 1} more)" if len(files) > 1 else "")
    return one_year(series, where, year=args.year, explicit=True, allow=args.allow_multiyear, season_start=args.season_start,
                    fix="pass --year YYYY to composite one calendar year's dates (with --season-start MM-DD: the season "
                        "ending in YYYY), or --allow-multiyear to composite them all, or give one season's files")


def _vi_quantity(path, band) -> str:
    """The index an annual raster holds (a key of training.physical_range.PHYSICAL_RANGES; "vi" when unknown): from
    `band` when it is a name, else the layer's description (gi_max, as `features index` and `composite` write them),
    else the file's `command` tag ("features index gi")."""
    import rasterio

    from irrmap.core.layers import layer_number
    from irrmap.training.physical_range import index_quantity

    try:
        with rasterio.open(path) as src:
            number = layer_number(src, band, str(path), "--band")
            description, command = src.descriptions[number - 1], src.tags().get("command", "")
    except Exception:  # noqa: BLE001 - read_raster reports an unreadable file or a bad layer
        return index_quantity(band if isinstance(band, str) else None)
    return index_quantity(band if isinstance(band, str) and not band.isdigit() else None, description,
                          command if command.startswith("features index") else None)


def _annual_vi(path, grid, band, chunk):
    """An annual VI raster (one layer) on `grid`, values outside the physical range of its index screened out
    (training.physical_range: GI 0..15, AGI -15..15, NDVI / EVI / NDWI / other VIs -1..1; the index from _vi_quantity).
    A VI refused as undecoded (stored x 10,000, in percent, ...: irrmap.core.stored_scale) gets a fix naming what this
    command offers: it has no decoding options."""
    from irrmap.core.errors import DataError
    from irrmap.core.raster_read import read_raster
    from irrmap.training.physical_range import screen

    quantity = _vi_quantity(path, band)
    try:
        return screen(read_raster(path, grid, band=band, band_option="--band", chunks=chunk), quantity, f"{quantity.upper()} {path}")
    except DataError as exc:
        if quantity in ("gi", "agi"):  # a ratio: its fix (bands on one scale) is not a decoding one
            raise
        stored = getattr(exc, "stored_scale", None)  # the stored factor the values fit (irrmap.core.stored_scale)
        composite = ("--preset mod13q1" if stored is not None and stored.scale == 1e-4 and "10,000" in (exc.fix or "")
                     else f"--scale {stored.scale:g}" if stored is not None else "")
        raise DataError(exc.what, exc.where, (
            "this command reads a decoded VI and has no decoding options: " +
            (f"the values fit a VI stored in {stored.name}: decode it first (gdal_calc.py -A {path} --outfile vi.tif --calc "
             f"'A*{stored.scale:g}' --type Float32, with --NoDataValue set to the file's fill) or make the annual maximum with "
             f"`irrmap features composite {composite} --stat max` and pass that" if stored is not None else
             "give the VI decoded to -1..1 (`irrmap features composite` writes it)"))) from None


def _write_stats(series, args, prefix, tags, mixed=None) -> int:
    """Write the --stat bands of `series` to OUT; `mixed` (the shares of _mixed_shares, or None): the max band adjusted
    for mixed pixels (training.mixed_pixels.adjust_mixed, as the run adjusts <vi>_max) and its tags added."""
    from irrmap.core.raster_write import write_raster
    from irrmap.training.composites import annual_statistics, band_names

    stats = list(dict.fromkeys(args.stat or ["max"]))
    st = annual_statistics(series, stats, ddof=getattr(args, "ddof", 0), allow_multiyear=True)  # one_year ran first
    names = band_names(prefix, stats)
    data = st
    if mixed is not None:
        from irrmap.training.mixed_pixels import adjust_mixed

        crop, natural, other, upper, paths = mixed
        data = [adjust_mixed(st.sel(stat=s, drop=True).rename(n), crop, natural, other, upper) if s == "max" else
                st.sel(stat=s, drop=True).rename(n) for s, n in zip(stats, names, strict=True)]
        tags = {**tags, **{k: v for k, v in data[stats.index("max")].attrs.items() if k.startswith("mixed_")}, **paths}
    write_raster(args.out, data, dtype="float32", descriptions=names, tags={"stage": "features", **tags})
    inputs = getattr(args, "files", None) or getattr(args, "nir", None) or []
    _refuse_empty(args.out, stats, series, " ".join(map(str, inputs[:1])) + (f" (and {len(inputs) - 1} more)" if len(inputs) > 1 else ""))
    return 0


def _refuse_empty(out, stats: list, series, where: str) -> None:
    """DataError (and no output) when no pixel has a valid date: every value of every date was nodata, a fill value,
    outside the valid range or rejected by QA, so each statistic but the count is NaN everywhere. The valid share
    comes from the writer's own count (irrmap.core.valid_share.band_shares: no second read)."""
    from pathlib import Path

    from irrmap.core.errors import DataError
    from irrmap.core.valid_share import band_shares

    values = [k for k, s in enumerate(stats) if s != "count"]
    if not values or band_shares(out)[values[0]] > 0:
        return
    Path(out).unlink(missing_ok=True)
    raise DataError(f"no pixel has a valid date: all {series.sizes.get('time', 1)} dates are missing everywhere (nodata, "
                    "fill values, outside the valid range or rejected by QA)", where or str(series.name),
                    "check the files (gdalinfo -stats), the decoding options (--preset, --nodata, --fill, --valid-range) "
                    "and the --qa rule")


def _share_roles(args):
    """The training.distinct_files roles of the three share options (one file given for two shares is refused)."""
    from irrmap.training.distinct_files import role

    return (role("--cropland", "the cropland share", args.cropland), role("--natural", "the forest/grass share", args.natural),
            role("--other", "the urban/water/unused share", args.other))


def _mixed_checks(args, quantity: str) -> bool:
    """Whether the mixed-pixel options ask for the adjustment (False: none given), checked before any reading.
    InputError (exit 2) for a share option without the other two, --mixed-upper without them, no max among the --stat
    (only the maximum is adjusted, as in the run) and an index the run does not adjust (`quantity` ndwi or agi: it
    adjusts evi, ndvi and gi; an unnamed vi is allowed). `features index agi` passes quantity "gi": its gi_max is
    adjusted, as the run's agi is made of the adjusted gi_max."""
    from irrmap.core.errors import InputError

    options = {"--cropland": args.cropland, "--natural": args.natural, "--other": args.other}
    if not any(options.values()):
        if args.mixed_upper is not None:
            raise InputError("--mixed-upper without the shares it applies to", "--mixed-upper",
                             "pass --cropland, --natural and --other too (or drop --mixed-upper)")
        return False
    missing = [o for o, v in options.items() if not v]
    if missing:
        raise InputError(f"the mixed-pixel adjustment needs all three shares: {' and '.join(missing)} missing",
                         "/".join(missing), "pass --cropland, --natural (forest/grass) and --other (urban/water/unused) "
                         "share rasters, e.g. the run's output/aligned/cropland.tif, forest_grass.tif, other_cover.tif; or none")
    if quantity in ("ndwi", "agi"):
        raise InputError(f"the mixed-pixel adjustment applies to the maxima of EVI, NDVI and GI, not {quantity.upper()} "
                         "(the run does not adjust it)", "--cropland",
                         "drop --cropland/--natural/--other" + (" (the run's agi, gi_max x ndwi_max with the adjusted "
                                                                 "gi_max, is `irrmap features index agi --cropland ...`)"
                                                                 if quantity == "agi" else ""))
    if "max" not in (args.stat or ["max"]):
        raise InputError("the mixed-pixel adjustment applies to the annual maximum, and no --stat max is asked for",
                         "--cropland", "add --stat max (the other statistics are written unadjusted, as the run writes them)")
    return True


def _mixed_shares(args, grid, reference_path=None):
    """(f_crop, f_natural, f_other, upper, tags) for _write_stats: the --cropland, --natural and --other rasters read onto
    `grid` (the series' grid) as the run reads a share input (read_raster with area_share: a pixel less than half covered
    by valid cells is missing; the same lattice reads the values as stored) after input_options.read_onto
    (georeferencing errors; a file covering under 99 % of the grid warned about), each refused unless a 0..1 fraction
    (training.nscore.check_share, DataError, exit 2: the run refuses a percent share too); upper = --mixed-upper
    (default 0.9, METHOD.md section 1); tags naming the three files relative to OUT's folder. Call _mixed_checks first."""
    from pathlib import Path

    from irrmap.app.cli.input_options import read_onto
    from irrmap.core.raster_read import read_raster
    from irrmap.core.relative_path import relative_to_folder
    from irrmap.training.nscore import check_share

    shares = []
    for option, path in (("--cropland", args.cropland), ("--natural", args.natural), ("--other", args.other)):
        read_onto(path, grid, option, "VI series", reference_path=reference_path)
        share = read_raster(path, grid, area_share=True, chunks=args.chunk)
        check_share(share, f"{option} {path}", path)
        shares.append(share)
    upper = 0.9 if args.mixed_upper is None else float(args.mixed_upper)
    here = Path(args.out).parent  # the shares' paths as OUT's tags hold them: relative to its folder
    tags = {f"mixed_{k}": relative_to_folder(getattr(args, k), here) for k in ("cropland", "natural", "other")}
    return (*shares, upper, tags)


def _first_raster(files):
    """The first of `files` that is a raster file (not a folder or cube), for the partial-footprint count; else None."""
    from pathlib import Path

    first = Path(files[0])
    return first if first.is_file() and first.suffix.lower() not in (".nc", ".zarr") else None


def _composite(args) -> int:
    from irrmap.training.distinct_files import check_distinct_files, role

    if args.qa and not args.qa_contains and not args.contains:  # name filters pick different files of one folder
        check_distinct_files(role("FILE", "the VI", args.files, args.band), role("--qa", "the quality (VI_Quality) layer",
                                                                                 args.qa, args.qa_band))
    if args.cropland or args.natural or args.other:
        check_distinct_files(*_share_roles(args))
    extra = {"contains": args.contains} if args.contains else {}
    if args.band is not None:
        extra.update(band=args.band, variable=args.band)
    extra.update(band_option="--band", qa_band_option="--qa-band", contains_option="--contains", qa_contains_option="--qa-contains")
    if args.qa:
        extra.update(qa=_source(args.qa), qa_rule=_qa_rule(args), qa_contains=args.qa_contains, qa_band=args.qa_band)
    from irrmap.core.grid import Grid
    from irrmap.training.physical_range import index_quantity

    quantity = index_quantity(args.name)
    adjust = _mixed_checks(args, quantity)  # before the series is read
    series = _read(args.files, args, name=quantity, **extra)  # screened against the index's own range
    mixed = _mixed_shares(args, Grid.from_dataarray(series), _first_raster(args.files)) if adjust else None
    rc = _write_stats(series, args, args.name, {"command": "features composite", "dates": len(series.time)}, mixed)
    stats = list(dict.fromkeys(args.stat or ["max"]))
    if "max" in stats:
        from irrmap.training.series_checks import warn_low_max

        warn_low_max(args.out, stats.index("max") + 1, f"{args.out} ({args.name}_max)")
    return rc


def _where(files, option: str) -> str:
    return f"{option} {files[0]}" + (f" (and {len(files) - 1} more)" if len(files) > 1 else "")


def _check_overlap(files, option: str, grid, args) -> None:
    """InputError naming the file when a file of `files` (option `option`) does not overlap `grid` (the first NIR
    file's): read onto it, it would be missing everywhere."""
    from pathlib import Path

    import rasterio

    from irrmap.core.errors import InputError
    from irrmap.core.valid_share import extent_text, no_overlap
    from irrmap.training.timeseries import RASTER_SUFFIXES

    paths = [p for f in map(Path, files) for p in (sorted(f.iterdir()) if f.is_dir() else [f])]
    for path in (p for p in paths if p.suffix.lower() in RASTER_SUFFIXES and p.suffix.lower() != ".nc"):
        try:
            src = rasterio.open(path)
        except Exception:  # noqa: BLE001, S112 - unreadable: the series reader names it
            continue
        with src:
            if src.crs is not None and no_overlap(src, grid):
                raise InputError(f"does not overlap the grid of the first --nir file: the file covers {extent_text(src)}, the "
                                 f"grid {extent_text(grid)}", f"{option} {path}",
                                 "give the bands of one area (same tile); check the file's CRS (gdalinfo)")


def _index(args) -> int:
    from irrmap.core.errors import InputError
    from irrmap.core.grid import Grid
    from irrmap.training.band_pairs import check_pair
    from irrmap.training.distinct_files import check_distinct_files, role
    from irrmap.training.indices import green_index, ndwi_gao
    from irrmap.training.physical_range import screen

    need = {"gi": ("green",), "ndwi": ("swir",), "agi": ("green", "swir")}[args.index]
    for band in need:
        if not getattr(args, band):
            raise InputError(f"{args.index} needs --{band}", f"--{band}", f"pass the {band} rasters")
    check_distinct_files(*(role(f"--{b}", f"{b} reflectance", getattr(args, b), getattr(args, f"{b}_band")) for b in ("nir", "green", "swir")),
                         *_share_roles(args))
    if args.index == "agi" and args.stat:
        raise InputError("agi is one layer, the run's agi = gi_max x ndwi_max (METHOD.md: AGI = GI x NDWI built from the "
                         "composites), not a statistic of a per-date series", "--stat",
                         "drop --stat (statistics of GI or NDWI: `irrmap features index gi|ndwi --stat ...`)")
    adjust = _mixed_checks(args, "gi" if args.index == "agi" else args.index)  # gi_max (also inside agi), as the run adjusts it

    def reflectance(band, grid=None):
        layer = getattr(args, f"{band}_band")
        if grid is not None:
            _check_overlap(getattr(args, band), f"--{band}", grid, args)
        return _read(getattr(args, band), args, f"--{band}", grid=grid, name=band, band_option=f"--{band}-band",
                     **({"band": layer, "variable": layer} if layer is not None else {}))

    nir = reflectance("nir")  # every band is read onto the grid of the first NIR file (never aligned by coordinates)
    grid = Grid.from_dataarray(nir)

    def paired(band):
        other = reflectance(band, grid)
        check_pair(nir, _where(args.nir, "--nir"), other, _where(getattr(args, band), f"--{band}"),
                   f"give {band} files for the dates of the NIR files (MOD09Q1 and MOD09A1 are both 8-day composites of the "
                   "same days), or drop the extra files")
        return other

    gi = screen(green_index(nir, paired("green"), args.max_gi), "gi", f"GI of {_where(args.nir, '--nir')}") if args.green else None
    nd = screen(ndwi_gao(nir, paired("swir")), "ndwi", f"NDWI of {_where(args.nir, '--nir')}") if args.swir else None
    mixed = _mixed_shares(args, grid, _first_raster(args.nir)) if adjust else None
    if args.index == "agi":
        return _write_agi(gi, nd, args, mixed)
    series = {"gi": gi, "ndwi": nd}[args.index]
    return _write_stats(series, args, args.index, {"command": f"features index {args.index}", "dates": len(series.time)}, mixed)


def _write_agi(gi, nd, args, mixed) -> int:
    """Write the run's agi (training.sscore.composite_rasters): gi_max x ndwi_max, the annual maxima (min_valid 1, as the
    run's default) of the per-date GI and NDWI `gi`, `nd` ((time, y, x), screened), one float32 band "agi" with NaN
    nodata. `mixed` (_mixed_shares, or None): gi_max adjusted for mixed pixels first (training.mixed_pixels.adjust_mixed)
    and the run's tags added (mixed_tags("agi", upper, of="gi_max")) with the three files. DataError (and no output)
    when no pixel has a valid date (_refuse_empty)."""
    from irrmap.core.raster_write import write_raster
    from irrmap.training.composites import annual_statistics
    from irrmap.training.indices import agi
    from irrmap.training.mixed_pixels import adjust_mixed, mixed_tags

    def maximum(series, name):
        return annual_statistics(series, ["max"], allow_multiyear=True).sel(stat="max", drop=True).rename(name)  # one_year ran first

    gi_max, nd_max = maximum(gi, "gi_max"), maximum(nd, "ndwi_max")
    tags = {"stage": "features", "command": "features index agi", "dates": len(gi.time)}
    if mixed is not None:
        crop, natural, other, upper, paths = mixed
        gi_max = adjust_mixed(gi_max, crop, natural, other, upper)
        tags.update({**mixed_tags("agi", upper, of="gi_max"), **paths})
    write_raster(args.out, agi(gi_max, nd_max), dtype="float32", descriptions=["agi"], tags=tags)
    _refuse_empty(args.out, ["max"], gi, _where(args.nir, "--nir"))
    return 0


def _nscore(args) -> int:
    from irrmap.app.cli.input_options import read_onto
    from irrmap.core.errors import InputError
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import read_raster
    from irrmap.core.raster_write import write_raster
    from irrmap.core.valid_share import refuse_empty_output
    from irrmap.training.distinct_files import check_distinct_files, role
    from irrmap.training.nscore import (
        check_share,
        nscore_and_median,
        reference_mask,
        refuse_signed_index,
    )
    from irrmap.training.reference_raster import read_reference

    refuse_signed_index(_vi_quantity(args.vi, args.band), f"VI {args.vi}")
    check_distinct_files(role("VI", "the VI", args.vi, args.band), role("--reference", "the reference mask", args.reference),
                         role("--crop", "the cropland share", args.crop), role("--natural", "the forest/grass share", args.natural))
    grid = Grid.from_raster(args.vi)
    for option in ("--reference", "--crop", "--natural"):  # read onto the VI's grid: a partial one is warned about
        if getattr(args, option[2:]):
            read_onto(getattr(args, option[2:]), grid, option, "VI", reference_path=args.vi)
    vi = _annual_vi(args.vi, grid, args.band, args.chunk)
    if args.reference:
        ref = read_reference(args.reference, grid, args.chunk)  # a binary 0/1 mask (training.reference_raster)
    elif args.crop:
        crop = read_raster(args.crop, grid, chunks=args.chunk)
        check_share(crop, f"--crop {args.crop}", args.crop)
        nat = read_raster(args.natural, grid, chunks=args.chunk) if args.natural else None
        if nat is not None:
            check_share(nat, f"--natural {args.natural}", args.natural)
        ref = reference_mask(crop, nat, args.min_share)
    else:
        raise InputError("no reference pixels given", "--reference/--crop", "pass a reference mask or the cropland fraction")
    n, med = nscore_and_median(vi, ref, args.window, where=f"VI {args.vi}")  # refuses or warns about windows whose median is <= 0, as the run does
    tags = {"stage": "features", "command": "features nscore", "window": args.window}
    write_raster(args.out, n.rio.write_crs(grid.crs).rio.write_transform(grid.transform), dtype="float32", descriptions=["nscore"], tags=tags)
    refuse_empty_output(args.out, [("VI", args.vi), *((o, getattr(args, a)) for o, a in (("--reference", "reference"), ("--crop", "crop"),
                                   ("--natural", "natural")) if getattr(args, a))], what="the N-score",
                        fix="give a VI with data and reference pixels (--reference, or --crop above --min-share) within --window of them")
    if args.median_out:
        write_raster(args.median_out, med, dtype="float32", descriptions=["vi_median"], tags=tags)
    return 0


def _sscore(args) -> int:
    import pandas as pd

    from irrmap.app.cli.input_options import read_onto
    from irrmap.core.errors import InputError
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import read_raster
    from irrmap.core.raster_write import write_raster
    from irrmap.core.valid_share import refuse_empty_output
    from irrmap.training.distinct_files import check_distinct_files, role
    from irrmap.training.sscore import check_suitability, flat_pixels, sscore

    check_distinct_files(role("VI", "the VI", args.vi, args.band), role("--suitability", "the suitability S", args.suitability),
                         role("--zones", "the units", args.zones), role("--nscore", "the N-score", args.nscore))
    grid = Grid.from_raster(args.vi)
    for option in ("--suitability", "--zones", "--nscore"):  # read onto the VI's grid: a partial one is warned about
        if getattr(args, option[2:]):
            read_onto(getattr(args, option[2:]), grid, option, "VI", reference_path=args.vi)
    vi = _annual_vi(args.vi, grid, args.band, args.chunk)
    s = read_raster(args.suitability, grid, chunks=args.chunk)
    check_suitability(s, f"--suitability {args.suitability}")
    flat = n = None
    if args.zones or args.unit_table or args.nscore:
        if not (args.zones and args.unit_table and args.nscore):
            raise InputError("the flat-unit rule needs --zones, --unit-table and --nscore together", "--zones/--unit-table/--nscore")
        zones = read_raster(args.zones, grid, kind="categorical", chunks=args.chunk)
        table = pd.read_csv(args.unit_table, index_col=0)
        flat = flat_pixels(zones, table, where=f"--unit-table {args.unit_table}", zones_where=f"--zones {args.zones}")
        n = read_raster(args.nscore, grid, chunks=args.chunk)
    out = sscore(s, vi, flat, n)
    write_raster(args.out, out, dtype="float32", descriptions=["sscore"], tags={"stage": "features", "command": "features sscore"})
    refuse_empty_output(args.out, [("VI", args.vi), ("--suitability", args.suitability), *((o, getattr(args, a)) for o, a in
                                   (("--zones", "zones"), ("--nscore", "nscore")) if getattr(args, a))], what="the S-score",
                        fix="give a VI and a suitability layer with data over the same area (gdalinfo -stats)")
    return 0
