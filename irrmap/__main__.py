"""`python -m irrmap` is the `irrmap` command."""

from irrmap.app.cli import program

program()
