"""Warnings logged by irrmap code inside tasks on dask.distributed workers, re-logged in the client.

A worker process has its own logging: a warning raised while a task runs there (a suspicious input value,
a decoding problem) would never reach the run's log, its per-stage warning list or the report. The plugin
below adds a handler to each worker's `irrmap` logger that sends WARNING and above to the client
(irrmap.core.block_reports), where they are logged again under the same logger name. Imported only when a
run opens a cluster (it imports dask.distributed).
"""

from __future__ import annotations

import logging

from distributed.diagnostics.plugin import WorkerPlugin

from irrmap.core.block_reports import current_worker, on, report

_TOPIC = "log"
RELOGGED = "irrmap_relogged"  # LogRecord attribute of a warning re-logged in the client


class _ToClient(logging.Handler):
    """Sends a worker task's warning to the client. Records the client logs itself (re-logged ones included) are
    not sent: with an in-process cluster (LocalCluster(processes=False)) workers and client share one `irrmap`
    logger, and sending those would re-log them for ever."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, RELOGGED, False) or current_worker() is None:
            return
        report(_TOPIC, (record.name, record.levelno, record.getMessage()))


class WarningsToClient(WorkerPlugin):
    """Worker plugin: forward the worker's irrmap warnings to the client."""

    name = "irrmap-warnings-to-client"

    def setup(self, worker) -> None:
        logger = logging.getLogger("irrmap")
        if not any(isinstance(h, _ToClient) for h in logger.handlers):
            logger.addHandler(_ToClient(logging.WARNING))

    def teardown(self, worker) -> None:
        logger = logging.getLogger("irrmap")
        for h in [h for h in logger.handlers if isinstance(h, _ToClient)]:
            logger.removeHandler(h)


def _relog(payload) -> None:
    name, level, message = payload
    logging.getLogger(name).log(level, "%s", message, extra={RELOGGED: True})


on(_TOPIC, _relog)
