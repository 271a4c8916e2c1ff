"""`irrmap water`: the water-body layer: water masks from Landsat / Sentinel-2 scenes, connected water bodies
with true areas, and change between two epochs.

Command contract (other tools rely on it):
  irrmap water mask OUT.tif SCENE...                  uint8 GeoTIFF on the first scene's grid, band 1: 1 water,
                                                      0 not water, 255 unknown (bands 2-3: detection, persistence)
  irrmap water bodies OUT_DIR MASK.tif                bodies.parquet, bodies.gpkg, body_id.tif (+ water.tif, ...)
  irrmap water change OUT_DIR BODIES_A_DIR BODIES_B_DIR   change.csv, transitions.tif (+ totals, stable ids); with
                                                      --previous CHANGE_DIR ids stay stable over a chain of epochs
"""

from __future__ import annotations

import math
import typing

from irrmap.app.cli import add_group
from irrmap.app.cli.units_options import add_unit_options, unit_read_args
from irrmap.app.cli.value_types import CHUNK, fraction_arg


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    _register_mask(cmds)
    _register_bodies(cmds)
    _register_change(cmds)


def _defaults():
    """The [water] config section's fields: the one place the commands' defaults are written (and described)."""
    from irrmap.core.config import WaterSection

    return WaterSection.model_fields


def _register_mask(cmds) -> None:
    f = _defaults()
    p = cmds.add_parser(
        "mask", help="water mask of one scene, or the epoch composite of several (1 water, 0 not water, 255 unknown)",
        description="Writes OUT: a uint8 GeoTIFF on the first scene's grid (other scenes are resampled onto it), nodata 255. "
                    "Band 1 'water': 1 water, 0 not water, 255 unknown (cloud, shadow, snow or fill in every scene); with several "
                    "scenes, water where the water frequency over the clear observations exceeds --extent. Band 2 'detection': "
                    "frequency above --detection (the bodies command keeps only bodies holding such a pixel). Band 3 "
                    "'persistence': 1 permanent, 2 seasonal. A SCENE is a Landsat scene folder (band files + MTL in any form), a "
                    "Sentinel-2 L1C/L2A product folder, or a scene stack (GeoTIFF with common band names + sidecar JSON). Scenes "
                    "without a quality band are screened for cloud, shadow and snow; those pixels are unknown, never water. Cloud and "
                    "cloud shadow are buffered by --cloud-buffer pixels (Fmask's 3), from the screen or a QA band alike; a TM / ETM+ / "
                    "OLI folder screened without its thermal band is warned about (clouds over water are then missed).",
    )
    p.add_argument("out", metavar="OUT.tif", help="output GeoTIFF (COG)")
    p.add_argument("scenes", metavar="SCENE", nargs="+", help="scene folders or scene stacks of one epoch (warned when their acquisition dates span more than 366 days)")
    for name in ("method", "index"):
        p.add_argument(f"--{name}", choices=_choices(f[name]), default=f[name].default, help=_help(f[name]))
    for name, kind in (("detection", fraction_arg(high_open=True)), ("extent", fraction_arg(high_open=True)),
                       ("permanent", fraction_arg(low_open=True)), ("min_clear", int)):
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=f[name].default, help=_help(f[name]))
    p.add_argument("--cloud-buffer", type=int, default=f["cloud_buffer"].default, metavar="PX", help=_help(f["cloud_buffer"]))
    # default None: `--method otsu` with an explicit --threshold is refused (Otsu computes its own threshold)
    p.add_argument("--threshold", type=float, default=None,
                   help=f["threshold"].description.replace("%", "%%") + f" Default: {f['threshold'].default}.")
    p.set_defaults(func=_bounded(_mask))


def _bounded(command):
    """`command` run with bounded memory (the water commands read and write whole scenes window by window, so
    what grows with the scene is what the process keeps between windows): GDAL's block cache capped at the
    [run].gdal_cache_mb default (64 MB; GDAL's own default is 5 % of RAM, which the windows of a large mask or
    body_id.tif filled: a 188 Mpx mask, `water bodies` peaked at 2.7 GB, 1.6 GB with the cap alone), unless the environment
    sets GDAL_CACHEMAX; and glibc's malloc arenas and thresholds set for tiled work (irrmap.core.memory, as
    `irrmap run` and the predict commands do), so freed window buffers do not pile up. Neither changes a pixel."""
    import functools

    @functools.wraps(command)
    def run(args) -> int:
        import os

        import rasterio

        from irrmap.core.config import RunSection
        from irrmap.core.memory import fix_malloc_thresholds, limit_arenas
        from irrmap.core.raster_write import gdal_cache_bytes

        limit_arenas()  # before the dask threads allocate
        fix_malloc_thresholds()
        if os.environ.get("GDAL_CACHEMAX"):
            return command(args)
        with rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes(RunSection.model_fields["gdal_cache_mb"].default)):
            return command(args)

    return run


def _check_threshold(args) -> None:
    """--threshold must lie strictly inside the index's range and is refused with --method otsu / dswe, which
    ignore it. Fills in the default."""
    from irrmap.core.config import WaterSection
    from irrmap.core.errors import InputError
    from irrmap.mapping.water.indices import INDEX_RANGE, threshold_problem

    if args.threshold is not None and args.method not in INDEX_RANGE:
        raise InputError(f"--threshold {args.threshold:g} is ignored by --method {args.method} (it "
                         f"{'computes its own threshold per scene' if args.method == 'otsu' else 'uses its own tests'})",
                         "--threshold", f"drop --threshold, or use a fixed-threshold method ({', '.join(INDEX_RANGE)})")
    if args.threshold is None:
        args.threshold = WaterSection.model_fields["threshold"].default
    problem = threshold_problem(args.threshold, args.method) if args.method in INDEX_RANGE else None
    if problem:
        raise InputError(problem, "--threshold", f"use a threshold inside {args.method.upper()}'s range, e.g. 0.0 (the published threshold)")


def _register_bodies(cmds) -> None:
    f = _defaults()
    p = cmds.add_parser(
        "bodies", help="connected water bodies of a mask: body table with true areas, polygons and a body-id raster",
        description="Labels the connected components of band 1 == 1 of MASK (window by window, exactly scipy.ndimage.label's "
                    "components) and writes in OUT_DIR: body_id.tif (uint32, 0 no body), water.tif (the mask, 1 / 0 / 255), "
                    "persistence.tif (when MASK has a 'persistence' band), bodies.parquet (GeoParquet) and bodies.gpkg: per body "
                    "its true ellipsoidal area, perimeter, centroid, size class, the unknown area touching it and, with --units, "
                    "its admin unit. When MASK has a 'detection' band, only bodies holding a detection pixel are kept.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder")
    p.add_argument("mask", metavar="MASK.tif", help="water mask (irrmap water mask, or any uint8 1 water / 0 not water / 255 unknown raster)")
    p.add_argument("--min-area-m2", type=float, default=f["min_area_m2"].default, help=_help(f["min_area_m2"]))
    p.add_argument("--connectivity", type=int, choices=_choices(f["connectivity"]), default=f["connectivity"].default,
                   help=_help(f["connectivity"]))
    p.add_argument("--units", nargs="+", metavar="FILE", help="admin unit polygons (GeoPackage, GeoJSON, shapefile): each body gets the unit holding most of it")
    p.add_argument("--code-field", help="field with the unit code (with --units)")
    p.add_argument("--name-field", help="field with the unit name (with --units)")
    add_unit_options(p, code="--code-field", layer="--layer", hierarchy="none")
    p.add_argument("--tile", type=CHUNK, default=4096, help="pixels per window edge (memory, not results, depends on it; default 4096)")
    p.set_defaults(func=_bounded(_bodies))


def _register_change(cmds) -> None:
    p = cmds.add_parser(
        "change", help="match the bodies of two epochs by overlap: stable ids, status and area change, JRC-style transitions",
        description="Compares two folders written by `irrmap water bodies` on one grid and writes in OUT_DIR: change.csv (one row "
                    "per body of epoch B and per lost body of epoch A: stable id, areas, change in km2 and %, status stable / grown / "
                    "shrunk / new / lost / merged / split, or unobserved / partly_observed when the other epoch did not see (enough of) the "
                    "body's footprint for cloud, shadow, snow or fill -- unknown_a_m2 / unknown_b_m2 give the unknown area of the footprint "
                    "in each epoch, and the totals leave these bodies out), transitions.tif (uint8 JRC-style classes, legend in the band description), "
                    "transitions.csv, stable_id.tif, totals_size_class.csv, totals_admin.csv (with admin units) and large_vs_small.csv.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder")
    p.add_argument("bodies_a", metavar="BODIES_A_DIR", help="bodies folder of the earlier epoch")
    p.add_argument("bodies_b", metavar="BODIES_B_DIR", help="bodies folder of the later epoch")
    tolerance = _defaults()["tolerance"]
    p.add_argument("--tolerance", type=fraction_arg(), default=tolerance.default, help=_help(tolerance))
    p.add_argument("--previous", metavar="CHANGE_DIR", default=None,
                   help="the change folder of the pair ending at BODIES_A_DIR (a third or later epoch): epoch A's bodies keep the stable "
                        "ids it gave them and new bodies get ids never issued before (its stable_id.tif next_id tag)")
    p.add_argument("--next-id", type=int, default=None,
                   help="first id for new bodies (default: the largest stable epoch-A id + 1, or the next id of --previous)")
    p.set_defaults(func=_bounded(_change))


def _mask(args) -> int:
    from irrmap.mapping.water.mask import epoch_mask, mask_layers, read_scenes, write_mask
    from irrmap.core.valid_share import refuse_empty_output
    from irrmap.mapping.water.summary import epoch_summary

    from irrmap.mapping.water.composite import check_thresholds

    _check_threshold(args)
    names = {k: f"--{k.replace('_', '-')}" for k in ("detection", "extent", "permanent", "min_clear")}
    rules = {"detection": args.detection, "extent": args.extent, "permanent": args.permanent, "min_clear": args.min_clear}
    check_thresholds(**rules, n_scenes=len(args.scenes), names=names)  # before any scene is read
    scenes = read_scenes(args.scenes, cloud_buffer=args.cloud_buffer)
    composite = epoch_mask(scenes, method=args.method, threshold=args.threshold, index=args.index, names=names, **rules)
    path = write_mask(args.out, composite, scenes=args.scenes, tags={"cloud_buffer": str(args.cloud_buffer)})
    refuse_empty_output(path, [], what="the water mask", bands=[1], where=", ".join(map(str, args.scenes)),
                        fix="every pixel is unknown (cloud, shadow, snow or fill in every scene): give scenes with clear "
                            f"pixels of the area ({', '.join(map(str, args.scenes))}), or lower --min-clear")
    s = epoch_summary(mask_layers(path, chunks=_SUMMARY_TILE)["water"], tile=_SUMMARY_TILE)  # one chunk per window read
    print(f"{path}: {len(scenes)} scene(s), method {args.method}; clear {s['clear_share']:.1%} of {s['area_km2']:.6g} km2, "
          f"water {_share(s['water_share_of_clear'])} of the clear area ({s['water_km2']:.6g} km2), unknown {s['unknown_km2']:.6g} km2")
    return 0


#: window edge (pixels) of the mask's area summary: the chunk of the layer it reads, so each window reads one chunk
_SUMMARY_TILE = 1024


def _help(field) -> str:
    """A config field's description as argparse help (its % escaped), with the default."""
    return field.description.replace("%", "%%") + " Default: %(default)s."


def _choices(field) -> list:
    """The values of a Literal config field."""
    return list(typing.get_args(field.annotation))


def _share(v) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _bodies(args) -> int:
    from irrmap.core.errors import InputError
    from irrmap.mapping.water.bodies import bodies_to_files
    from irrmap.core.relative_path import relative_to_folder
    from irrmap.mapping.water.mask import mask_layers, scene_dates

    if not (math.isfinite(args.min_area_m2) and args.min_area_m2 >= 0):
        raise InputError(f"--min-area-m2 {args.min_area_m2} is not a finite area >= 0", "--min-area-m2",
                         "use 0 (keep every body) or a positive area in m2, e.g. 3125")
    if args.tile < 1:
        raise InputError(f"--tile {args.tile} is not positive", "--tile", "use e.g. 4096")
    if bool(args.units) != bool(args.code_field):
        raise InputError("--units and --code-field go together", "--units / --code-field", "give both (the polygons and their code field) or neither")
    units = None
    if args.units:
        from irrmap.core.units import AdminUnits

        units = AdminUnits.read(args.units, args.code_field, hierarchy=args.hierarchy, name_field=args.name_field, layer=args.layer,
                                encoding=args.units_encoding, **unit_read_args(args))
    layers = mask_layers(args.mask, chunks=args.tile)
    _refuse_unknown_mask(layers["water"], args.mask)
    dates = scene_dates(args.mask)  # carried on, so that `water change` can check the epochs' order
    paths = bodies_to_files(layers["water"], args.out_dir, detection=layers.get("detection"), persistence=layers.get("persistence"),
                            connectivity=args.connectivity, min_area_m2=args.min_area_m2, units=units, tile=args.tile,
                            tags={"mask": relative_to_folder(args.mask, args.out_dir)} | ({"scene_dates": ";".join(d.isoformat() for d in dates)} if dates else {}))
    for p in paths.values():
        print(p)
    return 0


def _refuse_unknown_mask(water, path) -> None:
    """InputError when the mask's water layer has no pixel that is known (0 or 1): every pixel unknown (255) or the
    file's nodata. Bodies of such a mask are '0 bodies, 0 km2', which reads as 'no water' although nothing was seen
    (suitability distance refuses such a water raster the same way). `water` (dask-backed) is read chunk by chunk,
    stopping at the first chunk with a known pixel, with a progress bar by chunk."""
    from irrmap.core.errors import InputError

    import dask

    from irrmap.core.progress import progress_bar

    blocks = water.data.to_delayed().ravel()
    known = False
    with progress_bar(total=len(blocks), desc="water bodies: known pixels", unit="tile") as bar:
        for block in blocks:  # window by window, stopping at the first known pixel (usually in the first window)
            values = dask.compute(block)[0]
            known = bool(((values == 0) | (values == 1)).any())
            bar.update(1)
            if known:
                break
    if not known:
        raise InputError("the mask has no known pixel: every pixel is unknown (255) or nodata, so it cannot say where water "
                         "is not", str(path), "give a mask with clear pixels (irrmap water mask of scenes that see the area); "
                         "if 255 is not the mask's unknown code here, declare the file's real nodata (gdal_edit.py -a_nodata)")


def _change(args) -> int:
    from irrmap.core.errors import InputError
    from irrmap.core.fractions import fraction_problem
    from pathlib import Path

    from irrmap.mapping.water.change import change_to_files, check_bodies_folder

    problem = fraction_problem(args.tolerance, "--tolerance")  # the parser's type checks it too; args built in code are checked here
    if problem:
        raise InputError(problem[0], "--tolerance", problem[1])
    if args.next_id is not None and args.next_id < 1:
        raise InputError(f"--next-id {args.next_id} is not positive", "--next-id", "use the first unused id (1 or more)")
    for folder in (args.bodies_a, args.bodies_b):  # one complete run each, before their tags are read for the order
        if Path(folder, "body_id.tif").is_file():
            check_bodies_folder(folder)
    _check_order(args.bodies_a, args.bodies_b)
    paths = change_to_files(args.out_dir, args.bodies_a, args.bodies_b, tolerance=args.tolerance, next_id=args.next_id,
                            previous=args.previous)
    for p in paths.values():
        print(p)
    return 0


def _check_order(dir_a, dir_b) -> None:
    """InputError when the scene dates the two bodies folders carry (body_id.tif tag `scene_dates`, from the
    masks) put epoch A after epoch B: the change would be reversed. Folders without dates are not checked."""
    from pathlib import Path

    from irrmap.core.errors import InputError
    from irrmap.mapping.water.mask import epoch_date, scene_dates

    when = []
    for d in (dir_a, dir_b):
        f = Path(d) / "body_id.tif"
        when.append(epoch_date(scene_dates(f)) if f.is_file() else None)
    if None not in when and when[0] > when[1]:
        raise InputError(f"epoch A ({dir_a}, scenes of {when[0]}) is later than epoch B ({dir_b}, scenes of {when[1]}): the change "
                         "would run backwards in time", "BODIES_A_DIR / BODIES_B_DIR", "give the earlier epoch's bodies first")
