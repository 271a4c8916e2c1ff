"""Progress bars for long work (tqdm), silenced by the CLI's -q or when output is not a terminal."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

_state = {"enabled": None}  # None: show when stderr is a terminal


def set_progress(enabled: bool | None) -> None:
    """Force progress bars on (True) or off (False), or back to automatic (None)."""
    _state["enabled"] = enabled


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it", **kw) -> tqdm:
    """A tqdm bar on stderr that honours set_progress()."""
    enabled = _state["enabled"]
    disable = (not sys.stderr.isatty()) if enabled is None else (not enabled)
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr, leave=False, **kw)
