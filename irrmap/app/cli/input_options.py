"""Command-line inputs shared by the commands: NAME=VALUE options and the grid check of extra rasters.

A raster on another grid than the command's reference raster (the cropland, or the class map) is refused unless
`--align` asks for it to be resampled: half a pixel off moves every label and predictor, silently.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def named_values(items, option: str, example: str) -> dict[str, str]:
    """NAME=VALUE items of a repeated option as a dict, in order. InputError for an item without NAME or VALUE
    and for a NAME given twice (a dict would keep the last one without a word)."""
    from irrmap.core.errors import InputError

    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise InputError(f"bad item {item!r}", option, f"write NAME=VALUE, e.g. {example}")
        if name in out:
            raise InputError(f"{name!r} is given twice ({out[name]!r} and {value!r})", option, "give each name once (a repeated name would replace the first)")
        out[name] = value
    return out


def check_on_grid(path, grid, what: str, align: bool, reference: str = "cropland", option: str | None = None,
                  reference_path=None, automatic: bool = False):
    """The north-up grid of the raster at `path` (InputError for a missing, unreadable or not georeferenced file, as
    irrmap.core.georef.check_georef says; a file stored south-up or east-left has the grid it is read on); GridError
    when it differs from the `reference` raster's `grid` and `align` (the --align option) is not given; with
    `align` a raster on another grid is resampled, and that is logged, and so is a file whose footprint covers less
    than irrmap.core.footprint.NEED_EVERYWHERE (99 %) of the reference grid (warn_partial_footprint: the covered
    share, and with `reference_path` (the reference raster) how many of its valid pixels get no value; a warning, not
    an error: the covered part is read right and the rest is missing). `what` names the input (score, map,
    predictor NAME), `option` the command-line option giving it (default: `what`). `automatic`: the command resamples
    every input onto its reference grid by design (no --align option; see read_onto): the resampling is logged at INFO,
    the partial-footprint warning stays a warning. The GridError is one line: which property differs (CRS, size, origin
    x / y, pixel width / height) with both values and the difference in pixels (irrmap.core.grid.Grid.mismatch),
    the reference file, and the fix."""
    from irrmap.core.errors import GridError
    from irrmap.core.georef import check_georef, grid_of
    from irrmap.core.raster_read import open_raster

    with open_raster(path) as src:  # InputError for a missing or unreadable file
        check_georef(src, str(path))  # no CRS, GCPs only, a CRS without datum, a container of subdatasets
        g = grid_of(src)  # a file stored south-up or east-left has the grid of its pixels north-up, as it is read
    differs = g.mismatch(grid)  # [] when the same pixels (irrmap.core.grid.Grid.aligned_with: float noise is the same grid)
    if differs:
        if not align:
            raise GridError(grid_mismatch_text(what, differs, reference, reference_path), str(path), "pass --align or resample it first")
        if automatic:
            log.info("%s (%s) is resampled onto the %s grid", option or what, path, reference)
        else:
            log.warning("%s (%s) is resampled onto the %s grid (--align)", what, path, reference)
        from irrmap.core.footprint import warn_partial_footprint

        warn_partial_footprint(path, grid, f"{option or what} {path}", grid_name=f"the {reference} grid",
                               reference=reference_path, reference_name=reference,
                               fix=f"give a {what} file that covers the whole {reference} (gdalbuildvrt of more tiles, or a larger "
                                   f"source), or clip the {reference} to the file's extent first (gdal_translate -projwin)")
    return g


def grid_mismatch_text(what: str, differs: list[str], reference: str, reference_path=None) -> str:
    """ "the cropland grid differs from the class map grid (class.tif): origin x 500125.0 vs 500000.0 (+0.5 pixel)":
    `differs` is irrmap.core.grid.Grid.mismatch of the raster's grid against the reference's."""
    ref = f" ({reference_path})" if reference_path is not None else ""
    return f"the {what} grid differs from the {reference} grid{ref}: {'; '.join(differs)}"


def read_onto(path, grid, option: str, reference: str, reference_path=None):
    """The check every extra raster of a command without --align passes before it is read onto the command's grid
    (the grid of its first raster: `suitability overlay` reads the factors onto the zones' grid, `suitability aridity`
    every climate file onto the first --precip's, `features nscore|sscore` the shares, S, zones and N-score onto the
    VI's): georeferencing errors as check_on_grid (InputError naming the file), the resampling logged, and a file whose
    footprint covers less than 99 % of that grid warned about (irrmap.core.footprint.warn_partial_footprint, with the
    share of the `reference_path` raster's valid pixels left without a value): a DEM tile that covers a fifth of the
    zones would otherwise give a suitability layer missing on four fifths of them without a word. Returns the file's
    grid (irrmap.core.grid.Grid)."""
    return check_on_grid(path, grid, option.lstrip("-"), True, reference=reference, option=option,
                         reference_path=reference_path, automatic=True)
