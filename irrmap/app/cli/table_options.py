"""The command-line options that say how a user table is written (irrmap.core.tables), shared by every
command that reads one: --encoding, --separator, --decimal, --thousands, and for tables as offices publish
them --header-rows, --drop-rows, --zero-values, and --sheet for a workbook of several sheets."""

from __future__ import annotations


def add_table_args(p) -> None:
    """Add the table options to an argparse parser (--sheet included: irrmap.core.tables.read_table refuses a workbook
    whose table sheet it cannot tell, and names this option)."""
    p.add_argument("--sheet", help="sheet of a .xls/.xlsx/.ods workbook by name (default: the only sheet holding data, else the "
                                   "one named for --year; several candidates are refused)")
    p.add_argument("--encoding", help="text encoding of CSV tables (default UTF-8; Chinese tables are often gb18030)")
    p.add_argument("--separator", help="column separator of CSV tables (default: found from the file: , ; tab |)")
    p.add_argument("--decimal", choices=[".", ","], help="decimal mark of the numbers (default: found per column; ambiguous columns are refused)")
    p.add_argument("--thousands", choices=["", ",", ".", " ", "'"], help="thousands separator ('' none; default: found per column)")
    p.add_argument("--header-rows", type=int, nargs="+", metavar="LINE",
                   help="line numbers (from 1) of the header rows, e.g. 3 4; columns are then named by their joined header path")
    p.add_argument("--drop-rows", nargs="+", default=[], metavar="REGEX", help="drop rows whose label (first filled cell) matches one of these (case-sensitive; (?i) for any case)")
    p.add_argument("--zero-values", nargs="+", default=[], metavar="TEXT", help="cell texts that mean 0, e.g. '-' (default: they mean missing)")


def table_format(args):
    """The irrmap.core.tables.TableFormat the parsed options give (messages name the flags)."""
    from irrmap.core.tables import TableFormat

    return TableFormat.of(args, "--")
