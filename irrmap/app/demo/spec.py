"""The demo region's size, place and seed, and the grids derived from them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from irrmap.core.grid import Grid

RES = 0.00225  # the CIrrMap250 grid (deg)
DEFAULT_ROWS, DEFAULT_COLS = 600, 800
DEFAULT_SEED, DEFAULT_YEAR = 42, 2020


@dataclass(frozen=True)
class DemoSpec:
    """Everything that determines the demo's bytes: size, seed, year, placement, fine-grid factor, chunk.

    The chunk is only a processing detail: outputs do not depend on it (see tests/test_demo_streaming.py).
    """

    rows: int = DEFAULT_ROWS
    cols: int = DEFAULT_COLS
    seed: int = DEFAULT_SEED
    year: int = DEFAULT_YEAR
    left: float = 104.0  # west edge (deg E)
    top: float = 39.0  # north edge (deg N)
    fine: int = 8  # land-cover cells per 250 m pixel edge (30 m-like)
    chunk: int = 256

    def __post_init__(self):
        if self.rows < 48 or self.cols < 48:
            raise ValueError("the demo needs at least 48 x 48 pixels")

    @property
    def grid(self) -> Grid:
        return Grid.from_bounds(self.left, self.top - self.rows * RES, self.left + self.cols * RES, self.top, RES, "EPSG:4326")

    @property
    def fine_grid(self) -> Grid:
        r = RES / self.fine
        return Grid.from_bounds(self.left, self.top - self.rows * RES, self.left + self.cols * RES, self.top, r, "EPSG:4326")

    @property
    def scale(self) -> float:
        """Feature scale (pixels): large landforms scale with the region so every size looks like a landscape."""
        return float(max(self.rows, self.cols))

    @property
    def coarse(self) -> int:
        """Pixels per edge of the flow-routing grid (>= 4; grows so the routing grid stays <= ~1.5 M cells)."""
        return max(4, math.ceil(math.sqrt(self.rows * self.cols / 1.5e6)))

    @property
    def n_counties(self) -> int:
        return int(min(3000, max(12, round(self.rows * self.cols / 10000))))
