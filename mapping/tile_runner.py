"""Where prediction tiles run: on local threads, or as tasks on the workers of the dask.distributed client in
use (`[run].scheduler`), so a country's prediction is spread over the cluster instead of funnelled through
the client. Each tile task reads its own inputs, predicts and saves its part file; the client only submits
tiles, a few at a time (memory stays bounded by the tiles in flight), and learns which are done.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
from dataclasses import dataclass
from typing import Callable

from irrmap.core.parallelism import current_client


@dataclass
class TileRunner:
    """submit(fn, *args) runs fn(model, *args) somewhere and returns a future; wait_first(futures) returns those
    done (at least one); cancel(futures) stops those not started. `slots`: tasks that run at once; `cluster`:
    True on a dask.distributed cluster."""

    submit: Callable
    wait_first: Callable
    cancel: Callable
    slots: int
    cluster: bool


@contextlib.contextmanager
def tile_runner(model, n_jobs: int):
    """A TileRunner on the current dask.distributed client's workers (the model sent to each worker once), else
    on `n_jobs` local threads."""
    client = current_client()
    if client is not None:
        shared = client.scatter(model, broadcast=True, hash=False)
        from distributed import wait

        yield TileRunner(submit=lambda fn, *args: client.submit(fn, shared, *args, pure=False),
                         wait_first=lambda futs: wait(futs, return_when="FIRST_COMPLETED").done,
                         cancel=lambda futs: client.cancel(futs), slots=max(1, sum(client.nthreads().values())), cluster=True)
        return
    with cf.ThreadPoolExecutor(max(1, n_jobs)) as pool:
        yield TileRunner(submit=lambda fn, *args: pool.submit(fn, model, *args),
                         wait_first=lambda futs: cf.wait(futs, return_when=cf.FIRST_COMPLETED).done,
                         cancel=lambda futs: [f.cancel() for f in futs], slots=max(1, n_jobs), cluster=False)
