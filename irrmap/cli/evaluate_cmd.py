"""`irrmap evaluate`: command group; its commands arrive with the issue that builds this stage."""

from __future__ import annotations

from irrmap.cli import add_group


def register(sub, name: str, help_: str) -> None:
    add_group(sub, name, help_ + " (no commands yet)")
