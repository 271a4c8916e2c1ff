"""irrmap: 250 m irrigated-cropland mapping (the CIrrMap250 method) with water-body and tree-cover layers.

This package is the shared core (Grid, raster and vector I/O, admin units, statistics, config) and the
application shell (CLI, pipeline). Stage packages (`suitability`, `training`, `models`, `mapping`,
`evaluation`) import the core; only the shell imports the stages.
"""

__version__ = "0.1.0"

from irrmap.errors import IrrmapError  # noqa: E402
from irrmap.grid import Grid  # noqa: E402

__all__ = ["Grid", "IrrmapError", "__version__"]
