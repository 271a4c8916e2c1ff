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
        self.sink.append({"stage": self.stage, "logger": record.name, "message": record.getMessage()})


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
