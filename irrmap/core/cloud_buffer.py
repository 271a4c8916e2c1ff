"""The cloud and cloud-shadow buffer of the optical scene readers (irrmap.sources.scene), in a module light enough for
the command line's option defaults.

CLOUD_BUFFER_PX = 3: Fmask dilates its cloud and its cloud-shadow masks by 3 pixels by default (Zhu & Woodcock 2012,
Remote Sens. Environ. 118:83-94; Zhu, Wang & Woodcock 2015, Remote Sens. Environ. 159:269-277, Fmask 3.2; Qiu, Zhu &
He 2019, Remote Sens. Environ. 231:111205, Fmask 4.0: cloud and shadow dilation, 3 pixels each), because the edges of
clouds and of their shadows are thin, half-lit or half-shaded and pass as clear otherwise.
"""

from __future__ import annotations

from irrmap.core.errors import InputError

CLOUD_BUFFER_PX = 3
MAX_CLOUD_BUFFER_PX = 100


def check_cloud_buffer(buffer, where: str = "cloud_buffer") -> int:
    """`buffer` as an int of pixels; InputError (located at `where`: the option or key that set it) unless it is a whole
    number 0..MAX_CLOUD_BUFFER_PX."""
    try:
        ok = not isinstance(buffer, bool) and float(buffer) == int(buffer) and 0 <= int(buffer) <= MAX_CLOUD_BUFFER_PX
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise InputError(f"cloud buffer {buffer!r} is not a whole number of pixels 0..{MAX_CLOUD_BUFFER_PX}", where,
                         f"use {CLOUD_BUFFER_PX} (Fmask's default), 0 to switch the buffer off, or another small number of pixels")
    return int(buffer)
