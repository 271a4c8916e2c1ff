"""The VRT check every command gets from the CLI's main before it runs: a VRT given to any argument (a path, a list
of paths, NAME=PATH, or a folder of inputs holding VRTs) whose source file does not exist is refused at once, exit 2,
with irrmap.core.grid.vrt_source_error's message (the VRT, the source as written, where GDAL looked and the fix).

Readers that open rasters through irrmap.core (open_raster, Grid.from_raster, raster_read) already check; modules that
open a raster with rasterio directly did not, so `irrmap evaluate compare MAP.tif B.vrt` ended in a traceback
("RasterioIOError: Read failed") at the first pixel read of B. Checking the command's arguments covers every command
at once, whatever reads the file later."""

from __future__ import annotations

import os


def refuse_vrts_with_missing_sources(args, argv) -> None:
    """Raise the InputError of the first VRT among the command's input arguments (and the *.vrt files directly inside a
    folder given as one) one of whose sources is missing; the outputs it names (irrmap.core.output_paths.
    command_output_paths) are not inputs. Reads only the first KB of each file given (the
    VRT's XML when it starts with <VRTDataset); files that are not VRTs and paths that do not exist are left to the
    command."""
    from irrmap.core.dataset_names import starts_as_vrt
    from irrmap.core.output_paths import argument_paths, command_output_paths

    outputs = {path for path, _option, _folder in command_output_paths(args, argv)}
    for _dest, text in argument_paths(vars(args)):
        if os.path.abspath(text) in outputs:
            continue
        if os.path.isdir(text):
            try:
                names = sorted(n for n in os.listdir(text) if n.lower().endswith(".vrt"))
            except OSError:
                continue
            candidates = [os.path.join(text, n) for n in names]
        elif os.path.isfile(text):
            candidates = [text]
        else:
            continue
        for path in candidates:
            if not starts_as_vrt(path):
                continue
            from irrmap.core.grid import vrt_source_error  # only for a VRT: irrmap.core.grid imports rioxarray (1.3 s)

            error = vrt_source_error(path)
            if error is not None:
                raise error
