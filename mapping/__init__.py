"""Map production: windowed prediction, spatial filtering, aggregation, water-body and tree-cover layers.

Stage package: it imports the shared core (`irrmap`) and never the shell (CLI, pipeline).
"""

from irrmap.mapping.aggregate import aggregate_area, aggregate_to_file, coarse_grid
from irrmap.mapping.filter import filter_map, filter_to_files, majority, min_mapping_unit, rule_7x7
from irrmap.mapping.predict import OUTPUTS, predict_block, predict_to_files, tile_size_for

# stage-level names used by `irrmap run`
aggregate_1km = aggregate_to_file

__all__ = ["OUTPUTS", "aggregate_1km", "aggregate_area", "aggregate_to_file", "coarse_grid", "filter_map", "filter_to_files",
           "majority", "min_mapping_unit", "predict_block", "predict_to_files", "rule_7x7", "tile_size_for"]
