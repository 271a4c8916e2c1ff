"""Map production: windowed prediction, spatial filtering, aggregation, water-body and tree-cover layers.

Stage package: it imports the shared core (`irrmap.core`) and never the shell (CLI, pipeline). The names
below load on first use, so `irrmap.mapping.water` and `irrmap.mapping.treecover` do not pull in the
classifier libraries that prediction needs.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "aggregate_area": "aggregate", "aggregate_to_file": "aggregate", "coarse_grid": "aggregate",
    "filter_map": "filter", "filter_to_files": "filter", "majority": "filter", "min_mapping_unit": "filter",
    "rule_7x7": "filter",
    "OUTPUTS": "predict", "predict_block": "predict", "predict_to_files": "predict", "tile_size_for": "predict",
}
_ALIASES = {"aggregate_1km": "aggregate_to_file"}  # stage-level names used by `irrmap run`

__all__ = sorted([*_NAMES, *_ALIASES])


def __getattr__(name: str):
    target = _ALIASES.get(name, name)
    if target not in _NAMES:
        raise AttributeError(f"module 'irrmap.mapping' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"irrmap.mapping.{_NAMES[target]}"), target)
    globals()[name] = value
    return value
