"""The warnings a run logs, kept per stage so that the report ('Flags and next steps'), manifest.json and the
closing console summary can repeat them."""

from __future__ import annotations

import logging
from contextlib import contextmanager


class _Collector(logging.Handler):
    def __init__(self, stage: str, sink: list):
        super().__init__(level=logging.WARNING)
        self.stage, self.sink = stage, sink

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in NOT_RUN_WARNINGS:
            return
        self.sink.append(warning_record(self.stage, record.name, record.getMessage()))


# loggers whose warnings say nothing about the run's data and depend on the process's history: matplotlib's font
# manager warns once per process, on the first figure whose text needs a missing fallback font (log-axis ticks are
# mathtext), so keeping them made a run's state and report differ with what the process had drawn before
NOT_RUN_WARNINGS = frozenset({"matplotlib"})


def warning_record(stage: str, logger: str, message: str) -> dict:
    """One collected warning, its keys always in this order: a record read back from the run state (JSON with
    sorted keys) is rebuilt with it, so a resumed run writes the same bytes as an uninterrupted one."""
    return {"stage": stage, "logger": logger, "message": message}


@contextmanager
def collected_warnings(stage: str, sink: list):
    """Append every WARNING (or worse) record logged inside the block to `sink` as {stage, logger, message}."""
    handler = _Collector(stage, sink)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield sink
    finally:
        root.removeHandler(handler)


__all__ = ["collected_warnings"]
