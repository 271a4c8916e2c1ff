"""Flags that contradict each other are refused (argparse usage error, exit 2) instead of one being dropped silently:
`-q` with `-v` (before or after the command; -q used to win) and `irrmap run --force --check` (the check ran alone)."""

from __future__ import annotations

import pytest

from irrmap.app.cli import main


@pytest.mark.parametrize("argv", [["-q", "run", "c.toml", "-v"], ["run", "c.toml", "-q", "-v"], ["-v", "-q", "grid", "info", "x.tif"]])
def test_quiet_and_verbose_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "-q/--quiet and -v/--verbose contradict" in capsys.readouterr().err


def test_force_and_check_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "c.toml", "--force", "--check"])
    assert exc.value.code == 2
    assert "argument --check: not allowed with argument --force" in capsys.readouterr().err


def test_quiet_alone_still_runs_the_command(tmp_path, capsys):  # control: one of them is fine
    assert main(["-q", "run", str(tmp_path / "missing.toml")]) == 2  # reaches the command: its own error, exit 2
    assert "config file not found" in capsys.readouterr().err
