"""Back-off and error classification of Earth Engine requests: quota (HTTP 429, 'Too Many Requests', an
EEException about a quota) and 5xx errors are retried after exponentially growing waits; anything else fails at once."""

from __future__ import annotations

import pytest

from irrmap.sources.ee.retry import Backoff, call_with_retries
from irrmap.sources.ee.transport import is_transient
from tests.ee_recorded import EEException, QuotaError


def test_waits_double_up_to_the_cap():
    # 2, 4, 8, ... seconds, capped at 120 (hand-computed; no jitter)
    assert Backoff(retries=8, first=2.0, jitter=0.0).waits() == [2, 4, 8, 16, 32, 64, 120, 120]


def test_jitter_is_deterministic_and_bounded():
    a, b = Backoff(retries=5, jitter=0.25, seed=7).waits(), Backoff(retries=5, jitter=0.25, seed=7).waits()
    assert a == b
    for wait, base in zip(a, [2, 4, 8, 16, 32]):
        assert base <= wait < base * 1.25


@pytest.mark.parametrize("exc, transient", [
    (QuotaError(429), True),
    (QuotaError(503, "Service Unavailable"), True),
    (QuotaError(500, "Internal Server Error"), True),
    (QuotaError(400, "Bad Request"), False),
    (QuotaError(403, "Forbidden"), False),
    (EEException("Earth Engine capacity exceeded: Too Many Requests"), True),
    (EEException("Quota exceeded for quota metric 'Compute requests'"), True),
    (EEException("Image.load: Image asset 'MODIS/061/MOD13Q2' not found."), False),
    (EEException("User memory limit exceeded."), False),
    (TimeoutError("read timed out"), True),
    (ConnectionResetError(104, "Connection reset by peer"), True),
])
def test_transient_errors(exc, transient):
    assert is_transient(exc) is transient


def test_transient_errors_are_retried_after_the_waits():
    answers = [QuotaError(429), QuotaError(503), "tile"]
    slept, told = [], []

    def call():
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    b = Backoff(retries=3, first=1.5, jitter=0.0)
    assert call_with_retries(call, b, transient=is_transient, sleep=slept.append, on_retry=lambda *a: told.append(a[:2])) == "tile"
    assert slept == [1.5, 3.0] and told == [(1, 1.5), (2, 3.0)]


def test_non_transient_error_fails_at_once():
    slept = []

    def call():
        raise EEException("Collection.loadTable: Collection asset 'X' not found.")

    with pytest.raises(EEException):
        call_with_retries(call, Backoff(retries=5), transient=is_transient, sleep=slept.append)
    assert slept == []


def test_retries_run_out():
    calls = []

    def call():
        calls.append(1)
        raise QuotaError(429)

    with pytest.raises(QuotaError):
        call_with_retries(call, Backoff(retries=2, jitter=0.0), transient=is_transient, sleep=lambda s: None)
    assert len(calls) == 3  # the first try and 2 retries


def test_interrupt_is_never_retried():
    def call():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call_with_retries(call, Backoff(retries=5), transient=lambda e: True, sleep=lambda s: pytest.fail("slept"))
