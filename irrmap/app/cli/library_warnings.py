"""Python warnings of libraries on the command line: one log line each, never a source line.

Python prints a warning as `FILE:LINE: Category: message` followed by the source line that raised it, e.g.
rasterio's `.../rasterio/__init__.py:356: NotGeoreferencedWarning: Dataset has no geotransform ...` and
`dataset = DatasetReader(path, ...)`: noise a user cannot act on. Within `library_warnings_logged`, a warning is
logged instead by the logger `py.warnings` (the name logging.captureWarnings uses) as
`WARNING py.warnings: Category: message (FILE:LINE)`, and rasterio's NotGeoreferencedWarning at DEBUG (shown
with -v): irrmap's own check (irrmap.core.georef.check_georef) refuses or warns about such a file in words that
name the config key and the fix. The logger does not propagate to the root logger, so these lines are not
collected as the run's warnings (irrmap.app.run_warnings): Python shows a warning once per code location and
process, so a run's report and state would depend on what the process ran before.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from pathlib import Path

LOGGER = "py.warnings"
# warnings whose matter irrmap's own checks report (irrmap.core.georef.check_georef): logged at DEBUG only
QUIET_CATEGORIES = ("NotGeoreferencedWarning",)


class _Stderr(logging.StreamHandler):
    """A handler writing to the sys.stderr of the moment (tests and callers may replace it between commands)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ sets it; the current sys.stderr is always used
        pass


def _logger(verbose: int) -> logging.Logger:
    log = logging.getLogger(LOGGER)
    log.propagate = False
    if not any(isinstance(h, _Stderr) for h in log.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    return log


@contextlib.contextmanager
def library_warnings_logged(verbose: int = 0):
    """Within the block, Python warnings (subject to the warning filters, as before) are log lines of `py.warnings`:
    WARNING, or DEBUG for QUIET_CATEGORIES; `verbose` (the count of -v) > 0 shows the DEBUG lines. The previous
    warnings.showwarning is restored afterwards."""
    log = _logger(verbose)

    def show(message, category, filename, lineno, file=None, line=None):
        level = logging.DEBUG if category.__name__ in QUIET_CATEGORIES else logging.WARNING
        log.log(level, "%s: %s (%s:%s)", category.__name__, message, "/".join(Path(filename).parts[-2:]), lineno)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
