"""The one catalogue of irrmap errors: every error names what is wrong, where (file, field) and the fix.

The CLI prints `str(error)` on one line and exits non-zero; library callers catch `IrrmapError`.

The errors about a wrong value (InputError, ConfigError, GridError, DataError and their subclasses) are also
ValueErrors, so code that catches `ValueError` (a notebook's `except ValueError`, the convention of numpy, pandas
and scikit-learn for a bad argument) catches them too; OutputError (a folder or disk problem) and ErrorList
(several problems of any kind) are IrrmapErrors only. Nothing in irrmap relies on `except ValueError` missing
them: every such handler wraps a call of the standard library or a third-party library (float(), json, dates,
xarray's alignment, pydantic validators, which convert IrrmapErrors to ValueErrors themselves).
"""

from __future__ import annotations


class IrrmapError(Exception):
    """A user-facing error: `what` went wrong, in `where` (a file, a config key, a field), and the `fix`."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self._message())

    def relocate(self, where: str | None) -> None:
        """Locate the error at `where` instead (e.g. the config key naming its file: irrmap.core.config_keys)."""
        self.where = where
        self.args = (self._message(),)

    def _message(self) -> str:
        msg = f"{self.where}: {self.what}" if self.where else self.what
        if self.fix:
            msg += f" (fix: {self.fix})"
        return msg


class InputError(IrrmapError, ValueError):
    """An input file is missing, unreadable or holds the wrong thing."""


class ConfigError(IrrmapError, ValueError):
    """The run configuration is invalid."""


class GridError(IrrmapError, ValueError):
    """A grid cannot be built or two grids do not match."""


class DataError(IrrmapError, ValueError):
    """Input data fails validation (statistics, units, points)."""


class OutputError(IrrmapError):
    """An output cannot be written: the folder is a file, read-only or not writable, or the disk is full."""


class ErrorList(IrrmapError):
    """Several problems found at once (the checks before a run, `irrmap run --check`): `errors` holds each,
    and the message lists them one per line."""

    def __init__(self, errors, where: str | None = None):
        self.errors = list(errors)
        super().__init__(self._listed(), where)

    def _listed(self) -> str:
        return f"{len(self.errors)} problems:" + "".join(f"\n  - {e}" for e in self.errors)

    def refresh(self) -> None:
        """The message again after some of `errors` were relocated (repeats, same message, dropped)."""
        seen: dict[str, IrrmapError] = {}
        for e in self.errors:
            seen.setdefault(str(e), e)
        self.errors = list(seen.values())
        self.what = self._listed()
        self.args = (self._message(),)


def gather(*checks) -> list[IrrmapError]:
    """Run each check (a callable taking no argument) and return the IrrmapErrors they raise, in order, with
    ErrorLists flattened and repeats (same message) dropped; other exceptions propagate."""
    found: dict[str, IrrmapError] = {}
    for check in checks:
        try:
            check()
        except IrrmapError as exc:
            for e in exc.errors if isinstance(exc, ErrorList) else [exc]:
                found.setdefault(str(e), e)
    return list(found.values())


def raise_all(errors, where: str | None = None) -> None:
    """Raise nothing for no error, the error itself for one, an ErrorList (located at `where`) for several."""
    errors = list(errors)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ErrorList(errors, where)
