"""The command-line options that say how unit polygons are read, shared by every command that reads them
(irrmap.core.units.AdminUnits.read: its `encoding`, `invalid_codes` and `options`, the flags its messages name)."""

from __future__ import annotations


def add_units_encoding(p) -> None:
    """Add --units-encoding (args.units_encoding, None by default) to an argparse parser."""
    p.add_argument("--units-encoding", default=None, help="text encoding of a unit shapefile's DBF, e.g. gbk without a .cpg file")


def add_drop_invalid_codes(p) -> None:
    """Add --drop-invalid-codes (args.drop_invalid_codes, False by default) to an argparse parser."""
    p.add_argument("--drop-invalid-codes", action="store_true",
                   help="drop polygons whose code does not fit the hierarchy, with a warning naming them (default: error)")


def invalid_codes(args) -> str:
    """AdminUnits.read's `invalid_codes` from --drop-invalid-codes."""
    return "drop" if getattr(args, "drop_invalid_codes", False) else "error"


def unit_flags(code: str = "--unit-field", layer: str = "--units-layer", encoding: str = "--units-encoding",
               drop: bool = True) -> dict:
    """AdminUnits.read's `options`: the flags of a command that reads units, so that its messages name them and not the
    [units] config keys (`drop`: whether the command has --drop-invalid-codes)."""
    return {"code_field": code, "hierarchy": "--hierarchy", "invalid_codes": "--drop-invalid-codes" if drop else None,
            "layer": layer, "encoding": encoding}
