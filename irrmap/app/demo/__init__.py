"""The built-in demo region: a synthetic arid-to-humid agricultural landscape with known truth.

`generate_demo(outdir)` writes the inputs, a `config.toml` for `irrmap run`, and a `truth/` folder the
pipeline must not read. Everything is a deterministic function of (size, seed, year) and is generated window
by window; see docs/demo.md.
"""

from __future__ import annotations

from irrmap.app.demo.generate import generate_demo
from irrmap.app.demo.spec import DemoSpec

__all__ = ["generate_demo", "DemoSpec"]
