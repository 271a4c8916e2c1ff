"""Evaluation: point accuracy, error-adjusted areas, agreement with statistics, map comparison, reports.

Stage package: it imports the shared core (`irrmap`) and never the shell (CLI, pipeline).
"""

from irrmap.evaluation.agreement import agreement_metrics, mapped_area_by_unit, paired_by_level, scatter_png, zonal_mapped_area
from irrmap.evaluation.area_estimation import AreaEstimate, allocate, olofsson, sample_size, stehman
from irrmap.evaluation.comparison import MapComparison, compare_maps, disagreement, unit_areas_side_by_side
from irrmap.evaluation.design import DesignAccuracy, SampleDesign, design_accuracy
from irrmap.evaluation.confusion import Accuracy, accuracy, accuracy_by_group, accuracy_from_matrix, confusion_matrix, kappa_variance
from irrmap.evaluation.points import binarise, binary_labels, read_points, sample_points, snap_to_crop
from irrmap.evaluation.report import Report, confusion_png, map_quicklook_png

__all__ = [
    "Accuracy", "AreaEstimate", "DesignAccuracy", "MapComparison", "Report", "SampleDesign",
    "accuracy", "accuracy_by_group", "accuracy_from_matrix", "agreement_metrics", "allocate", "binarise", "binary_labels",
    "compare_maps", "confusion_matrix", "confusion_png", "design_accuracy", "disagreement", "kappa_variance", "map_quicklook_png",
    "mapped_area_by_unit", "olofsson", "paired_by_level", "read_points", "sample_points", "sample_size", "scatter_png",
    "snap_to_crop", "stehman", "unit_areas_side_by_side", "zonal_mapped_area",
]
