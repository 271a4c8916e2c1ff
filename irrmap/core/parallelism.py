"""How many dask tasks run at once: the threads of the dask.distributed client in use, else the local
threaded scheduler's `num_workers`, else one per CPU core. Writers size their batches with it."""

from __future__ import annotations

import os
import sys

import dask


def current_client():
    """The dask.distributed client in use, or None (the local threaded scheduler)."""
    if "distributed" not in sys.modules:  # only a run that opened a Client has imported it
        return None
    from distributed import default_client
    try:
        return default_client()
    except ValueError:  # imported, but no client is open
        return None


def task_slots() -> int:
    """Tasks the current dask scheduler runs at once."""
    client = current_client()
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)
