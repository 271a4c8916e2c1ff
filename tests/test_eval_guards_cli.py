"""Output piped into a reader that stops early (`irrmap evaluate ... | head -1`) ends quietly (tester report 2.1):
no traceback, exit 141 (128 + SIGPIPE) as the shell reports a command stopped by SIGPIPE."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd

from irrmap.app.cli import main


def _tables(tmp_path):
    pd.DataFrame({"stratum": ["a"] * 4 + ["b"] * 4, "map": [1, 1, 0, 0] * 2, "reference": [1, 0, 0, 0, 1, 1, 0, 1]}).to_csv(
        tmp_path / "s.csv", index=False)
    pd.DataFrame({"stratum": ["a", "b"], "size": [100, 300]}).to_csv(tmp_path / "n.csv", index=False)
    return ["evaluate", "area", "--samples", str(tmp_path / "s.csv"), "--strata", str(tmp_path / "n.csv")]


def test_broken_pipe_in_a_command_exits_141_without_traceback(tmp_path, monkeypatch, capsys):
    import irrmap.app.cli.evaluate_cmd as ev

    def broken(*a, **k):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(ev, "_print", broken)
    assert main(_tables(tmp_path)) == 141
    assert "Traceback" not in capsys.readouterr().err


def test_piped_into_head_ends_quietly(tmp_path):
    """A real pipe closed after the first line, with more output than the pipe buffer holds."""
    code = textwrap.dedent(f"""
        import sys
        import irrmap.app.cli.evaluate_cmd as ev
        from irrmap.app.cli import main
        real = ev._print
        ev._print = lambda d, text, as_json: real(d, text + "\\n" + "x" * 100 + ("\\n" + "y" * 100) * 20000, as_json)
        sys.exit(main({_tables(tmp_path)!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert first.startswith(b"stehman2014")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert rc == 141
