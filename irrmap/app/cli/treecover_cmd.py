"""`irrmap treecover`: the tree-cover layer: per-pixel trend of a dated series and change between two epochs.

One `_register_<command>(cmds)` per command; `register` calls each in the order shown by --help."""

from __future__ import annotations

from irrmap.app.cli import add_group
from irrmap.app.cli.units_options import add_unit_options, unit_read_args
from irrmap.app.cli.value_types import (
    FINITE,
    MEMORY_MB,
    PERCENT,
    POSITIVE_FLOAT,
    SCALE,
    SIZE,
    fraction_arg,
)
from irrmap.core.json_out import score_text


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    _register_fit(cmds)
    _register_predict(cmds)
    _register_trend(cmds)
    _register_change(cmds)


def _register_trend(cmds) -> None:
    p = cmds.add_parser(
        "trend",
        help="per-pixel Theil-Sen slope (units per year) and Mann-Kendall p-value of a dated series",
        description="Writes OUT: a float32 COG, band 1 the Theil-Sen slope in the series' units per year, band 2 the two-sided "
                    "Mann-Kendall p-value (tie-corrected), NaN where fewer than --min-years years have a valid observation. "
                    "Layers are sorted by date: Landsat scene ids (LE71700551999255AGS00) or product ids (LC08_L1TP_041027_20150604_...), "
                    "dates or years in the band descriptions, else in the file names of single-band files.",
    )
    p.add_argument("out", help="output GeoTIFF (COG)")
    p.add_argument("series", nargs="+", help="raster(s): one band per date with dated band descriptions, or dated single-band files; "
                                               "the output takes the first one's grid")
    p.add_argument("--min-years", type=int, default=5, help="fewest calendar years with a valid observation for a pixel to get a trend (default 5)")
    p.add_argument("--annual", choices=["median", "max", "mean"], default=None,
                   help="reduce each year's observations to one value at mid-year first (default: every observation at its own date)")
    p.add_argument("--band-dates", metavar="DATES", help="dates of the layers, in file then band order: D1,D2,... or a text file with one per line")
    p.add_argument("--date-pattern", help="strptime-style pattern of the dates in names, e.g. %%Y%%m%%d (Landsat ids are always recognised)")
    p.add_argument("--band", help="the layer (number or name) of each file, for per-date files with several layers")
    p.add_argument("--scale", type=SCALE, default=None, help="multiply stored values (e.g. 0.0001 for NDVI x 10000); the slope is in the scaled units")
    p.add_argument("--nodata", type=FINITE, nargs="+", default=None, metavar="VALUE",
                   help="stored value(s) of missing observations, several for a product with several codes (--nodata -3000 65531); "
                        "replace the files' own")
    p.add_argument("--preset", choices=("mod13q1", "mod09", "none"), default="none",
                   help="decoding preset: mod13q1 = MOD13Q1 NDVI/EVI, scale 1e-4, fill -3000 and 65531, valid stored range -2000..10000, "
                        "uint16 copies read as int16; mod09 = scale 1e-4, fill -28672, valid -100..16000 (--scale/--nodata/--valid-range "
                        "override it)")
    p.add_argument("--valid-range", type=FINITE, nargs=2, metavar=("LO", "HI"), default=None,
                   help="valid stored range; values outside are missing (an NDVI/EVI series decoded outside -1..1 is refused)")
    p.add_argument("--harmonise", choices=["ndvi", "blue", "green", "red", "nir", "swir1", "swir2"], default=None,
                   help="map TM and ETM+ layers to OLI-equivalent values (Roy et al. 2016, OLS); needs Landsat ids as dates")
    p.add_argument("--unit", type=POSITIVE_FLOAT, default=1.0, help="the decoded value of reflectance or NDVI 1.0, for --harmonise (default 1)")
    p.add_argument("--memory-mb", type=MEMORY_MB, default=512, help="memory budget that sets the window size (default 512)")
    p.set_defaults(func=_trend)


def _register_change(cmds) -> None:
    p = cmds.add_parser(
        "change",
        help="change classes between two percent-cover epochs, forest/non-forest, and per-unit areas",
        description="Writes OUT: uint8 change classes (legend in the band description, nodata 255): cover gain or loss of at least "
                    "--change-threshold percentage points, and forest (cover above --forest-threshold percent) gained or lost. "
                    "--table writes per-unit mean cover, forest areas and change areas on true pixel areas.",
    )
    p.add_argument("out", help="output GeoTIFF (COG) of change classes")
    p.add_argument("epoch_a", help="percent tree cover of the first epoch (0..100); defines the grid")
    p.add_argument("epoch_b", help="percent tree cover of the second epoch, in the units of the first (read onto the first one's grid, "
                                   "see --resampling)")
    p.add_argument("--change-threshold", type=PERCENT, default=10.0, help="percentage points of cover change counted as gain or loss (default 10)")
    p.add_argument("--forest-threshold", type=PERCENT, default=30.0, help="forest = canopy cover above this percent (default 30)")
    p.add_argument("--scale", type=SCALE, default=None, help="multiply stored values of both epochs to get percent (100 for fractions 0..1; "
                   "epochs in different units are refused)")
    p.add_argument("--nodata", type=FINITE, nargs="+", default=None, metavar="VALUE",
                   help="stored value(s) of missing pixels in both epochs, several for a product with several codes (MODIS VCF: "
                        "--nodata 200 253, water and fill); replace the files' own")
    p.add_argument("--resampling", choices=("nearest", "average", "bilinear"), default=None,
                   help="how EPOCH_B is read onto EPOCH_A's grid when it is on another grid (warned about): nearest keeps B's own values "
                        "for the thresholds (default), average for a B much finer than A; recorded in the tag epoch_b_resampling")
    p.add_argument("--table", help="per-unit table (CSV)")
    p.add_argument("--units", nargs="+", help="unit polygons (GeoPackage, GeoJSON, shapefile) for --table")
    p.add_argument("--code-field", help="field with the unit code (with --units)")
    p.add_argument("--name-field", help="field with the unit name (with --units; default: the code)")
    add_unit_options(p, code="--code-field", hierarchy="none")
    p.add_argument("--zones", help="zone raster (irrmap units rasterize) instead of --units")
    p.add_argument("--zone-table", help="zone -> code table of --zones (default: the CSV beside it)")
    p.add_argument("--area-unit", default="m2", help="area unit of the table: m2, ha, km2, ... (default m2)")
    p.set_defaults(func=_change)


def _nodata(values):
    """--nodata as the layer takes it: None, one number (as before several were allowed: the same tags), or a tuple."""
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _trend(args) -> int:
    from irrmap.core.grid import Grid
    from irrmap.core.valid_share import refuse_empty_output
    from irrmap.mapping.treecover.dates import dated_layers, read_band_dates
    from irrmap.mapping.treecover.trend import trend_to_file

    band_dates = read_band_dates(args.band_dates) if args.band_dates else None
    layers = dated_layers(args.series, band=args.band, band_dates=band_dates, pattern=args.date_pattern,
                          pattern_option="--date-pattern")
    path = trend_to_file(args.out, layers, min_years=args.min_years, annual=args.annual, scale=args.scale, nodata=_nodata(args.nodata),
                         harmonise=args.harmonise, unit=args.unit, memory_mb=args.memory_mb, grid=Grid.from_raster(args.series[0]),
                         preset=None if args.preset == "none" else args.preset, valid_range=args.valid_range)
    refuse_empty_output(path, [("SERIES", p) for p in dict.fromkeys(str(x) for x in args.series)], what="the trend", bands=[1],
                        fix=f"give a series with at least --min-years ({args.min_years}) years of valid observations per pixel "
                            "(gdalinfo -stats each file), or check --nodata / --scale")
    print(f"trend of {len(layers)} layers {layers[0].date.date} .. {layers[-1].date.date} -> {path}")
    return 0


def _change(args) -> int:
    from irrmap.core.errors import InputError
    from irrmap.core.grid import Grid
    from irrmap.core.units import AdminUnits
    from irrmap.core.valid_share import refuse_empty_output
    from irrmap.mapping.treecover.change import (
        change_to_file,
        units_as_zones,
        zones_from_raster,
    )

    zones = None
    if args.units and args.zones:
        raise InputError("both --units and --zones given", "--units / --zones", "give one of them")
    for option, value in (("--units-layer", args.units_layer), ("--units-encoding", args.units_encoding),
                          ("--drop-invalid-codes", args.drop_invalid_codes)):
        if value and not args.units:
            raise InputError(f"{option} given without --units", option, f"name the unit file with --units, or leave {option} out")
    if (args.units or args.zones) and not args.table:
        raise InputError("units given without --table", "--table", "name the CSV to write the per-unit table to")
    if args.units:
        if not args.code_field:
            raise InputError("--units needs --code-field", "--code-field", "name the field with the unit code")
        units = AdminUnits.read(args.units, args.code_field, hierarchy=args.hierarchy, name_field=args.name_field, layer=args.units_layer,
                                encoding=args.units_encoding, **unit_read_args(args))
        zones = units_as_zones(units, Grid.from_raster(args.epoch_a))
    elif args.zones:
        zones = zones_from_raster(args.zones, args.zone_table, Grid.from_raster(args.epoch_a))
    paths = change_to_file(args.out, args.epoch_a, args.epoch_b, change_threshold=args.change_threshold,
                           forest_threshold=args.forest_threshold, scale=args.scale, nodata=_nodata(args.nodata), table=args.table, zones=zones,
                           area_unit=args.area_unit, resampling=args.resampling)
    refuse_empty_output(paths[0], [("EPOCH_A", args.epoch_a), ("EPOCH_B", args.epoch_b)], what="the change map", also=paths[1:],
                        fix="give two epochs of percent cover that both have data over the same area (gdalinfo -stats), or "
                            "check --nodata / --scale")
    for p in paths:
        print(p)
    return 0


def _register_fit(cmds) -> None:
    p = cmds.add_parser(
        "fit",
        help="calibrate percent tree cover on a coarse reference (MODIS VCF) with spatially blocked CV and a linear baseline",
        description="Averages the bands' features (bands, NDVI, NBR, NDMI; percentiles over dates when the files hold several) onto "
                    "the reference's grid, or onto --reference-resolution cells (both sides averaged), masks reference values above "
                    "--reference-valid-max, and fits a random forest (rf) or LightGBM (lgbm) regressor. Writes MODEL_DIR/model.joblib "
                    "and model.card.json: features and bands in order, held-out R2/RMSE/bias of the model and of a linear-regression "
                    "baseline on the same spatial blocks, the share of reference pixels at or above 80 % and the behaviour there. "
                    "Model files are pickles: share and load them only between trusted parties.",
    )
    p.add_argument("model_dir", help="output folder for model.joblib and model.card.json")
    p.add_argument("--reference", required=True, help="percent tree cover raster (e.g. MODIS VCF, 0..100; larger values are flags)")
    _band_options(p)
    p.add_argument("--percentiles", default="10,50,90", help="per-pixel percentiles over dates, for multi-date band files (default 10,50,90)")
    p.add_argument("--reference-resolution", type=SIZE, default=None, metavar="METRES",
                   help="fit on cells of this size (metres on the ground, any CRS) in the bands' CRS, bands and reference both "
                        "averaged (default: the reference's grid)")
    p.add_argument("--reference-valid-max", type=POSITIVE_FLOAT, default=100.0, help="larger reference values are flags, not cover (default 100, MODIS VCF)")
    p.add_argument("--model", default="rf", choices=["rf", "lgbm", "lgbm-rf"], help="regressor (default rf)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cv-blocks", type=SIZE, default=5000.0, metavar="METRES",
                   help="edge of the square blocks held out together in cross-validation, in metres on the ground (default 5000)")
    p.add_argument("--cv-splits", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--max-samples", type=int, default=100_000, help="most reference cells fitted and cross-validated, a seeded draw (default 100000)")
    p.add_argument("--min-coverage", type=fraction_arg(low_open=True), default=0.5, help="least share of a cell covered by valid bands and reference (default 0.5)")
    p.add_argument("--trees", type=int, default=None, help="trees of the forest (boosting rounds for lgbm; default 100); prediction "
                   "time grows with it")
    p.add_argument("--jobs", type=int, default=1, help="threads for fitting (default 1)")
    p.set_defaults(func=_fit)


def _register_predict(cmds) -> None:
    p = cmds.add_parser(
        "predict",
        help="percent tree cover and its uncertainty at the bands' resolution, window by window",
        description="Writes OUT (tiled COG, uint8, nodata 255): band 1 tree canopy cover in percent (0..100), band 2 its uncertainty "
                    "in percent cover (standard deviation of the forest's trees; for lgbm half the 16-84 % quantile interval). The "
                    "bands must be the fit's, in its order (checked by names, descriptions or file names). Then averages the map onto "
                    "the fit's reference grid and prints and stores (OUT.check.json) R2/RMSE against the reference.",
    )
    p.add_argument("out", help="output GeoTIFF (COG), two bands")
    p.add_argument("model_dir", help="folder written by `irrmap treecover fit` (model.joblib is a pickle: trusted sources only)")
    _band_options(p)
    p.add_argument("--reference", help="reference for the consistency check (default: the one the model was fitted on)")
    p.add_argument("--no-check", action="store_true", help="skip the consistency check against the reference")
    p.add_argument("--memory-mb", type=MEMORY_MB, default=512, help="memory budget that sets the window size (default 512)")
    p.add_argument("--jobs", type=int, default=None, help="threads (default: all cores)")
    p.set_defaults(func=_predict)


def _band_options(p) -> None:
    p.add_argument("--bands", nargs="+", required=True, metavar="BAND.tif",
                   help="one file per spectral band, in a fixed order; several layers in a file are dates of that band (dated in "
                        "their band descriptions, or the band named by --band-names / --sensor: else refused as a band stack)")
    p.add_argument("--band-names", metavar="NAMES", help="common name of each --bands file: e.g. blue,green,red,nir,swir1,swir2 "
                   "(default: band descriptions that are such names, else the band numbers in the file names with --sensor)")
    p.add_argument("--sensor", help="sensor code naming bands by the band number in their description or file name "
                   "(LT04, LT05, LE07, LC08, LC09, S2A, S2B, S2C)")


def _stack(args, percentiles: str | None = None):
    """The BandStack of --bands, --band-names, --sensor (and the fit's --percentiles; predict takes the model's)."""
    from irrmap.core.errors import InputError
    from irrmap.mapping.treecover.predictors import PERCENTILES, open_stack

    names = args.band_names.split(",") if args.band_names else None
    try:
        pct = [float(q) for q in percentiles.split(",")] if percentiles else PERCENTILES
    except ValueError:
        raise InputError(f"bad --percentiles {percentiles!r}", "--percentiles", "give numbers 0..100, e.g. 10,50,90") from None
    # predict takes the model's names and indices (check_same_bands), so a missing index is no warning there
    return open_stack(args.bands, band_names=names, sensor=args.sensor, percentiles=pct, warn_indices=percentiles is not None)


def _fit(args) -> int:
    from irrmap.mapping.treecover.fit import fit_treecover, save_treecover

    stack = _stack(args, args.percentiles)
    model, card = fit_treecover(stack, args.reference, resolution_m=args.reference_resolution, valid_max=args.reference_valid_max,
                                model=args.model, seed=args.seed, cv_block_m=args.cv_blocks, cv_splits=args.cv_splits,
                                max_samples=args.max_samples, min_coverage=args.min_coverage, n_trees=args.trees, n_jobs=args.jobs,
                                workdir=args.model_dir)
    card = save_treecover(model, card, args.model_dir)
    ref = card["reference"]
    where = f"{ref['resolution_m']:g} m" if ref["resolution_m"] else "the reference grid"
    print(f"{card['model']} on {card['samples']['used']} cells of {where}; features ({len(card['features'])}): {', '.join(card['features'])}")
    print(f"held-out ({card['cv']['held_out']}, {card['cv']['n_splits']} folds):")
    for k in ("model", "baseline"):
        c = card["cv"][k]
        print(f"  {k:8s} R2 {score_text(c['r2'])}  RMSE {score_text(c['rmse'], '.2f')}  bias {score_text(c['bias'], '+.2f')}  (percent cover)")
    print(f"model beats the linear baseline: {'yes' if card['beats_baseline'] else 'NO'}")
    sat = card["saturation"]
    print(f"reference >= 80 %: {ref['share_ge_80']:.1%} of the fit cells ({ref['share_ge_80_native']:.1%} of its own pixels); "
          f"there (held out, n={sat['model']['n']}) mean reference "
          f"{score_text(sat['model']['mean_reference'], '.1f')}, model {score_text(sat['model']['mean_predicted'], '.1f')}, "
          f"baseline {score_text(sat['baseline']['mean_predicted'], '.1f')}")
    print(f"-> {args.model_dir}")
    return 0


def _predict(args) -> int:
    from irrmap.mapping.treecover.predict import check_path, predict_treecover

    res = predict_treecover(args.out, args.model_dir, _stack(args), memory_mb=args.memory_mb, n_jobs=args.jobs,
                            reference=args.reference, check=not args.no_check)
    print(f"cover (band 1) and uncertainty (band 2), percent -> {res['path']}")
    chk = res["check"]
    if chk:
        s = chk["scores"]
        where = f"{chk['resolution_m']:g} m cells" if chk["resolution_m"] else "the reference grid"
        print(f"map averaged onto {where} vs reference (n={s['n']}): R2 {score_text(s['r2'])}  RMSE {score_text(s['rmse'], '.2f')}  "
              f"bias {score_text(s['bias'], '+.2f')} "
              f"-> {check_path(res['path'])}")
    return 0
