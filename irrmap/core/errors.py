"""The one catalogue of irrmap errors: every error names what is wrong, where (file, field) and the fix.

The CLI prints `str(error)` on one line and exits non-zero; library callers catch `IrrmapError`.
"""

from __future__ import annotations


class IrrmapError(Exception):
    """A user-facing error: `what` went wrong, in `where` (a file, a config key, a field), and the `fix`."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self._message())

    def _message(self) -> str:
        msg = f"{self.where}: {self.what}" if self.where else self.what
        if self.fix:
            msg += f" (fix: {self.fix})"
        return msg


class InputError(IrrmapError):
    """An input file is missing, unreadable or holds the wrong thing."""


class ConfigError(IrrmapError):
    """The run configuration is invalid."""


class GridError(IrrmapError):
    """A grid cannot be built or two grids do not match."""


class DataError(IrrmapError):
    """Input data fails validation (statistics, units, points)."""
