"""Exponential back-off for calls that fail transiently (Earth Engine quota limits, server errors).

Earth Engine answers "HTTP 429: Too Many Requests" when a project exceeds its request quota; its quotas guide
("Earth Engine quotas") says the client library handles these by retrying with exponential back-off, as here.
The waits are first, first * factor, first * factor**2, ... capped at `cap` seconds, each stretched by a jitter
drawn from a seeded generator, so two runs wait the same, and tests pass `sleep` to wait not at all.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """`retries` further tries after the first; waits in seconds; `jitter` stretches wait k by a factor in
    [1, 1 + jitter) drawn from random.Random(seed)."""

    retries: int = 6
    first: float = 2.0
    factor: float = 2.0
    cap: float = 120.0
    jitter: float = 0.25
    seed: int = 0

    def waits(self) -> list[float]:
        """The wait before each retry, in seconds (len == retries)."""
        rng = random.Random(self.seed)
        return [min(self.cap, self.first * self.factor ** k) * (1.0 + self.jitter * rng.random()) for k in range(self.retries)]


def call_with_retries(call: Callable[[], T], backoff: Backoff, *, transient: Callable[[BaseException], bool],
                      sleep: Callable[[float], None] = time.sleep, on_retry: Callable[[int, float, BaseException], None] | None = None) -> T:
    """`call()`'s result; an Exception for which `transient(exc)` is true is retried after the next wait (at most
    `backoff.retries` times, `on_retry(attempt, wait, exc)` told first); the last one, or any other exception,
    propagates at once. KeyboardInterrupt and SystemExit are never retried."""
    waits = backoff.waits()
    for attempt in range(len(waits) + 1):
        try:
            return call()
        except Exception as exc:
            if attempt == len(waits) or not transient(exc):
                raise
            if on_retry is not None:
                on_retry(attempt + 1, waits[attempt], exc)
            sleep(waits[attempt])
    raise AssertionError("unreachable")  # the loop returns or raises
