"""A minimal run config for tests: [run] output_dir = "out" and a geographic [grid], then the caller's sections."""

from __future__ import annotations

from pathlib import Path


def write_run_config(tmp_path: Path, body: str = "", bounds: str = "[104.0, 37.65, 104.5, 38.0]",
                     resolution: float = 0.0025) -> Path:
    """tmp_path/run.toml: output to tmp_path/out on an EPSG:4326 grid of `bounds` (lon/lat degrees, TOML list text)
    at `resolution` degrees, followed by `body` (more TOML sections). Returns its path."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"""
[run]
output_dir = "out"
[grid]
crs = "EPSG:4326"
bounds = {bounds}
resolution = {resolution}
{body}
""")
    return cfg
