"""The command-line option that says how the text of unit polygons is written, shared by every command that
reads unit polygons (irrmap.core.units.AdminUnits.read, its `encoding`)."""

from __future__ import annotations


def add_units_encoding(p) -> None:
    """Add --units-encoding (args.units_encoding, None by default) to an argparse parser."""
    p.add_argument("--units-encoding", default=None, help="text encoding of a unit shapefile's DBF, e.g. gbk without a .cpg file")
