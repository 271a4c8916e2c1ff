"""Reports from dask tasks to the process that built the graph, wherever the tasks run.

A task calls `report(topic, payload)`. On the local threaded scheduler (or any task running in the client's
own process) the handler registered with `on(topic, handler)` runs at once. In a dask.distributed worker the
payload travels to the client as a worker event (`Worker.log_event`) and the client, subscribed by
`forward_to(client)`, runs the handler there: module-level state kept by a handler (a tally) lives in the
client only, so it must never be read in the worker.
"""

from __future__ import annotations

from collections.abc import Callable

TOPIC = "irrmap-block-report"
_handlers: dict[str, Callable] = {}


def on(topic: str, handler: Callable) -> None:
    """Run `handler(payload)` in this process for every `report(topic, payload)`."""
    _handlers[topic] = handler


def current_worker():
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return get_worker()
    except (ValueError, LookupError):  # not inside a worker (LookupError: the worker context variable is unset)
        return None


def report(topic: str, payload) -> None:
    """From a task: hand `payload` to the client's handler for `topic`."""
    worker = current_worker()
    if worker is None:
        _handlers[topic](payload)
    else:
        worker.log_event(TOPIC, (topic, payload))


def _dispatch(event) -> None:
    _, (topic, payload) = event  # (time, message)
    _handlers[topic](payload)


def forward_to(client) -> None:
    """Deliver the reports of `client`'s workers to this process's handlers."""
    client.subscribe_topic(TOPIC, _dispatch)
