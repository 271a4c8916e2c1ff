"""Progress of long work on stderr: a tqdm bar on a terminal; off one (a log file, a batch job, `nohup ... > run.log`)
a plain log line now and then, so that a long write can be told from a hang. The CLI's -q silences both.

Off a terminal, `progress_bar` gives a `LogProgress`: the same interface as the tqdm bars irrmap uses (`update`,
`close`, context manager, `n`, `total`, `set_description`, `set_postfix`), which logs at INFO through the logger
`irrmap.progress` (or the caller's `logger`), e.g.
`INFO irrmap.progress: write slope.tif: 45 % (180M of 400M px), 1 min 10 s elapsed, about 1 min 25 s left`:
at most every PROGRESS_SECONDS seconds and every 1 / PROGRESS_STEPS of the total, whichever is rarer; the first line
after the first interval, and a final line with the elapsed time when the work took at least one interval (short
work logs nothing). The lines are INFO records: a run collects WARNING records only (irrmap.app.run_warnings),
so they never enter a run's state or report.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Self

from tqdm.auto import tqdm

# Seconds between two progress lines off a terminal (environment variable IRRMAP_PROGRESS_SECONDS overrides it, e.g.
# 300 for a country run's log, 0 in tests): a batch log gets a line every half minute at most, enough to tell
# progress from a hang without filling the log. Project choice, not a standard.
PROGRESS_SECONDS = 30.0
ENV_SECONDS = "IRRMAP_PROGRESS_SECONDS"
# ... and at least 1 / PROGRESS_STEPS of the total between two lines (10 % steps: at most about 10 lines per bar with a
# known total). Project choice.
PROGRESS_STEPS = 10
LOGGER = "irrmap.progress"

_state = {"enabled": None}  # None: tqdm on a terminal, log lines off one
log = logging.getLogger(LOGGER)
_warned: set[str] = set()


def set_progress(enabled: bool | None) -> None:
    """Force tqdm bars on (True, even off a terminal) or all progress off (False: no bar, no line), or back to
    automatic (None: tqdm when stderr is a terminal, log lines otherwise)."""
    _state["enabled"] = enabled


def progress_interval() -> float:
    """Seconds between progress lines: IRRMAP_PROGRESS_SECONDS when set to a number >= 0, else PROGRESS_SECONDS
    (a warning names a value that is not such a number)."""
    text = os.environ.get(ENV_SECONDS, "").strip()
    if not text:
        return PROGRESS_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        if text not in _warned:  # once per value and process, not once per bar
            _warned.add(text)
            log.warning("%s=%r is not a number of seconds >= 0; progress lines every %g s. Fix: set it to e.g. 60, or unset it",
                        ENV_SECONDS, text, PROGRESS_SECONDS)
        return PROGRESS_SECONDS
    return value


def _stderr_is_terminal() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it", *, logger: str | logging.Logger | None = None, **kw):
    """A progress bar of `total` `unit`s (None: unknown) that honours set_progress(): a tqdm bar on stderr when it
    is a terminal or progress is forced on, a disabled tqdm bar when it is off (-q), else a LogProgress writing
    log lines through `logger` (default irrmap.progress). `kw` are tqdm's (`initial`, `unit_scale` are used by
    both kinds)."""
    enabled = _state["enabled"]
    if enabled is None and not _stderr_is_terminal():
        return LogProgress(total, desc, unit, initial=kw.get("initial", 0), unit_scale=kw.get("unit_scale", False), logger=logger)
    return tqdm(total=total, desc=desc, unit=unit, disable=not (enabled or enabled is None), file=sys.stderr, leave=False, **kw)


def duration(seconds: float) -> str:
    """'12 s', '1 min 10 s', '2 h 5 min', '1 d 3 h'."""
    s = round(max(0.0, seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


class LogProgress:
    """A tqdm-like bar for output that is not a terminal: log lines (module docstring). Thread-safe: dask callbacks
    update bars from worker threads."""

    disable = False

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", *, initial: int = 0, unit_scale: bool = False,
                 logger: str | logging.Logger | None = None, interval: float | None = None):
        self.total, self.desc, self.unit, self.unit_scale = total, desc, unit, unit_scale
        self.n = self.initial = self._last_n = initial
        self.interval = progress_interval() if interval is None else interval
        self.log = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger or LOGGER)
        self.postfix = ""
        self.lines = 0  # lines logged so far
        self.closed = False
        self._lock = threading.Lock()
        self.start = self._last = time.monotonic()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)

    def update(self, n: float = 1) -> None:
        with self._lock:
            self.n += n
            now = time.monotonic()
            if self._due(now):
                self._emit(now, final=False)

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kw) -> None:
        items = dict(ordered_dict or {}, **kw)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def refresh(self) -> None:
        pass

    def close(self, failed: bool = False) -> None:
        """The final line ('done in ...'), when the work took at least one interval or lines were logged; none
        after a failure (the error says why)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            now = time.monotonic()
            if not failed and (self.lines or now - self.start >= self.interval):
                self._emit(now, final=True)

    def _due(self, now: float) -> bool:
        if self.closed or now - self._last < self.interval:
            return False
        if self.total:
            return self.n < self.total and (self.n - self._last_n) * PROGRESS_STEPS >= self.total  # 100 %: the final line
        return True

    def _count(self, n) -> str:
        if self.unit_scale:
            return tqdm.format_sizeof(n)
        return f"{int(n):,}" if float(n).is_integer() else f"{n:,.1f}"

    def _emit(self, now: float, final: bool) -> None:
        elapsed = now - self.start
        head = f"{self.desc}: " if self.desc else ""
        tail = f" ({self.postfix})" if self.postfix else ""
        if final:
            done = f"{self._count(self.n)} of {self._count(self.total)}" if self.total else self._count(self.n)
            self.log.info("%sdone, %s %s in %s%s", head, done, self.unit, duration(elapsed), tail)
        elif self.total:
            rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
            left = f", about {duration((self.total - self.n) / rate)} left" if rate > 0 else ""
            self.log.info("%s%d %% (%s of %s %s), %s elapsed%s%s", head, int(100 * self.n / self.total), self._count(self.n),
                          self._count(self.total), self.unit, duration(elapsed), left, tail)
        else:
            self.log.info("%s%s %s, %s elapsed%s", head, self._count(self.n), self.unit, duration(elapsed), tail)
        self.lines += 1
        self._last, self._last_n = now, self.n
