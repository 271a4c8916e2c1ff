"""The command-line options that say how unit polygons are read, shared by every command that reads them
(irrmap.core.units.AdminUnits.read: its `layer`, `encoding`, `hierarchy`, `invalid_codes` and `options`, the flags its
messages name). `add_unit_options` adds them all at once and records on the parser (args.unit_options) which flags
the command has, so that a message's suggested fix names only options the command offers."""

from __future__ import annotations

#: the code schemes of irrmap.core.units.SCHEMES a command can name, and "fields": parent codes read from the unit
#: file's own fields (--parent-field LEVEL=FIELD, as [units].parent_fields in a run)
HIERARCHIES = ("cn-adcode", "us-fips", "fields", "none")


def add_units_encoding(p, flag: str = "--units-encoding") -> None:
    """Add the encoding option (args.units_encoding for --units-encoding, None by default) to an argparse parser."""
    p.add_argument(flag, default=None, help="text encoding of a unit shapefile's DBF, e.g. gbk for Chinese boundaries without a "
                                            ".cpg file (default: the .cpg's, else UTF-8 or an error naming it)")


def add_drop_invalid_codes(p) -> None:
    """Add --drop-invalid-codes (args.drop_invalid_codes, False by default) to an argparse parser."""
    p.add_argument("--drop-invalid-codes", action="store_true",
                   help="drop polygons whose code does not fit --hierarchy, with a warning naming them (default: error)")


def add_unit_options(p, *, code: str = "--unit-field", layer: str = "--units-layer", encoding: str = "--units-encoding",
                     hierarchy: str = "cn-adcode") -> None:
    """Add every option of how unit polygons are read, except the code field itself (each command names and documents
    it, `code` its flag): the layer (`layer` flag), the DBF encoding (`encoding` flag), --hierarchy (default
    `hierarchy`, one of HIERARCHIES) and --drop-invalid-codes. Sets args.unit_options to `unit_flags` of these
    flags, the `options` AdminUnits.read names in its messages (use `unit_read_args(args)`)."""
    p.add_argument(layer, default=None, help="layer of the unit polygons in a multi-layer file (GeoPackage)")
    add_units_encoding(p, encoding)
    p.add_argument("--hierarchy", default=hierarchy, choices=list(HIERARCHIES),
                   help=f"code scheme of the unit codes, how parent codes derive from them (default {hierarchy}); 'fields': "
                        "from the unit file's fields named by --parent-field")
    p.add_argument("--parent-field", action="append", default=None, metavar="LEVEL=FIELD", type=_parent_field,
                   help="with --hierarchy fields: the field holding each unit's parent code at LEVEL, finest level first, "
                        "e.g. --parent-field city=parent --parent-field province=prov_code ([units].parent_fields of a run)")
    add_drop_invalid_codes(p)
    p.set_defaults(unit_options=unit_flags(code=code, layer=layer, encoding=encoding))


def invalid_codes(args) -> str:
    """AdminUnits.read's `invalid_codes` from --drop-invalid-codes."""
    return "drop" if getattr(args, "drop_invalid_codes", False) else "error"


def _parent_field(text: str) -> tuple[str, str]:
    """argparse type of --parent-field: LEVEL=FIELD -> (level, field)."""
    import argparse

    level, sep, field = text.partition("=")
    if not sep or not level.strip() or not field.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not LEVEL=FIELD, e.g. city=parent")
    return level.strip(), field.strip()


def parent_fields(args) -> dict[str, str] | None:
    """AdminUnits.read's `parent_fields` from --parent-field (None without it). InputError (exit 2) for --hierarchy
    fields without --parent-field, --parent-field with another hierarchy, or a level given twice."""
    from irrmap.core.errors import InputError

    given = getattr(args, "parent_field", None) or []
    hierarchy = getattr(args, "hierarchy", None)
    if hierarchy == "fields" and not given:
        raise InputError("--hierarchy fields needs the fields holding each unit's parent codes", "--parent-field",
                         "add --parent-field LEVEL=FIELD per level, e.g. --parent-field city=parent")
    if given and hierarchy != "fields":
        raise InputError(f"--parent-field is read with --hierarchy fields only (given: --hierarchy {hierarchy})", "--parent-field",
                         "add --hierarchy fields, or leave --parent-field out")
    out: dict[str, str] = {}
    for level, field in given:
        if level in out:
            raise InputError(f"level {level!r} given twice", "--parent-field", "give one field per level")
        out[level] = field
    return out or None


def unit_read_args(args) -> dict:
    """AdminUnits.read's `invalid_codes`, `options` and (with --hierarchy fields) `parent_fields` for a command whose
    parser went through `add_unit_options`."""
    out = {"invalid_codes": invalid_codes(args), "options": args.unit_options}
    parents = parent_fields(args)
    if parents:
        out["parent_fields"] = parents
    return out


def unit_flags(code: str = "--unit-field", layer: str = "--units-layer", encoding: str = "--units-encoding",
               drop: bool = True) -> dict:
    """AdminUnits.read's `options`: the flags of a command that reads units, so that its messages name them and not the
    [units] config keys (`drop`: whether the command has --drop-invalid-codes)."""
    return {"code_field": code, "hierarchy": "--hierarchy", "invalid_codes": "--drop-invalid-codes" if drop else None,
            "layer": layer, "encoding": encoding}
