"""The command-line options that say how a user table is written (irrmap.core.tables), shared by every
command that reads one: --encoding, --separator, --decimal, --thousands."""

from __future__ import annotations


def add_table_args(p) -> None:
    """Add the table options to an argparse parser."""
    p.add_argument("--encoding", help="text encoding of CSV tables (default UTF-8; Chinese tables are often gb18030)")
    p.add_argument("--separator", help="column separator of CSV tables (default: found from the file: , ; tab |)")
    p.add_argument("--decimal", choices=[".", ","], help="decimal mark of the numbers (default: found per column; ambiguous columns are refused)")
    p.add_argument("--thousands", choices=["", ",", ".", " ", "'"], help="thousands separator ('' none; default: found per column)")


def table_format(args):
    """The irrmap.core.tables.TableFormat the parsed options give (messages name the flags)."""
    from irrmap.core.tables import TableFormat

    return TableFormat.of(args, "--")
