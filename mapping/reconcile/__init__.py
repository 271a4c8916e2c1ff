"""Re-thresholding a finished irrigation map to (harmonised) statistics, unit by unit, at any admin level.

split_units  the per-unit re-thresholding of a window (the threshold maps' splitting kernel)
zone_sums    one pass over the run's rasters: zone extents, cropland, expected and mapped areas
plan         jobs per batch unit (province, state) and year, and the level each is bound to
jobs         one resumable job: window in, class / fraction windows and per-unit tables out
mosaic       the job windows assembled into class and fraction maps
agreement    mapped area against the statistics per level
"""

from irrmap.mapping.reconcile.agreement import agreement_table
from irrmap.mapping.reconcile.jobs import Job, is_done, run_job
from irrmap.mapping.reconcile.mosaic import write_mosaics
from irrmap.mapping.reconcile.plan import level_codes, plan_jobs
from irrmap.mapping.reconcile.split_units import (
           IRRIGATED,
           NODATA,
           NOT_IRRIGATED,
           rethreshold,
)
from irrmap.mapping.reconcile.zone_sums import RunRasters, read_window, zone_sums

__all__ = ["IRRIGATED", "NODATA", "NOT_IRRIGATED", "Job", "RunRasters", "agreement_table", "is_done", "level_codes", "plan_jobs",
           "read_window", "rethreshold", "run_job", "write_mosaics", "zone_sums"]
