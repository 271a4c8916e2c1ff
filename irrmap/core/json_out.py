"""JSON for output files: strict JSON that any reader parses.

Python's json module writes NaN and Infinity by default, which are not JSON (RFC 8259 section 6): jq, JavaScript's
JSON.parse and most other tools reject the file. Output writers go through `json_text`, which writes an undefined
number (a kappa with one class, an R2 with no variance) as null, numpy scalars and arrays as plain numbers and lists,
and paths and other objects as text.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from irrmap.core.atomic import write_text_atomic


def plain(obj):
    """`obj` with every float NaN / +-inf replaced by None, numpy scalars and arrays made Python numbers and lists,
    tuples made lists, and other non-JSON objects made their str(); dict keys made str."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    return str(obj)


def score_text(v, spec: str = ".3f", undefined: str = "undefined") -> str:
    """`v` formatted with `spec`, or `undefined` when it is None (null in a JSON file) or not finite (NaN in memory):
    a kappa with one class, an R2 without variance, a mean over no cell."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return undefined
    return format(v, spec)


def json_text(obj, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Strict JSON text of `obj` (see `plain`), ending with a newline."""
    return json.dumps(plain(obj), indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"


def write_json_atomic(path, obj, *, sort_keys: bool = False) -> Path:
    """Write `obj` as strict JSON to `path` atomically; returns the path."""
    return write_text_atomic(path, json_text(obj, sort_keys=sort_keys))


__all__ = ["json_text", "plain", "score_text", "write_json_atomic"]
