"""How many dask tasks run at once: the threads of the dask.distributed client in use, else the local
threaded scheduler's `num_workers`, else one per CPU core. Writers size their batches with it."""

from __future__ import annotations

import os
import sys

import dask


def task_slots() -> int:
    """Tasks the current dask scheduler runs at once."""
    if "distributed" in sys.modules:  # only a run that opened a Client has imported it
        from distributed import default_client
        try:
            return max(1, sum(default_client().nthreads().values()))
        except ValueError:  # imported, but no client is open
            pass
    return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)
