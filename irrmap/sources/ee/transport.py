"""How a tile request reaches Earth Engine, and which failures are worth another try.

A transport is any object with `compute_pixels(request: dict) -> bytes`: `request` is a payload built by
irrmap.sources.ee.tiles.request, the answer the GeoTIFF bytes of the tile. `EETransport` calls
`ee.data.computePixels`; tests play back recorded responses through the same interface, so tiling, retries and
resume are tested without a network.
"""

from __future__ import annotations

import re
from typing import Protocol

# HTTP statuses worth retrying: 429 Too Many Requests, which Earth Engine returns when a project exceeds its
# concurrent-request quota (guide "Earth Engine quotas": 40 concurrent requests, 100 requests/s by default; the
# client library retries these with exponential back-off), and the transient server errors 500, 502, 503, 504.
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
# Message fragments of the same failures when only the text carries them (ee.EEException wraps HTTP errors as text).
_TRANSIENT_TEXT = re.compile(
    r"quota|too many (requests|concurrent)|rate limit|resource[_ ]exhausted|\b(429|500|502|503|504)\b|internal error|backend error|"
    r"service unavailable|unavailable|deadline exceeded|timed? ?out|connection (reset|aborted|refused)|temporarily",
    re.IGNORECASE,
)


class Transport(Protocol):
    def compute_pixels(self, request: dict) -> bytes:
        """The GeoTIFF bytes of one tile request."""


class EETransport:
    """The real transport: `ee.data.computePixels` (earthengine-api, after irrmap.sources.ee.auth.initialize)."""

    def __init__(self, ee_module):
        self._ee = ee_module

    def compute_pixels(self, request: dict) -> bytes:
        return self._ee.data.computePixels(request)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (googleapiclient HttpError: resp.status; requests: response.status_code;
    others: status / code attributes), else None."""
    for holder in (getattr(exc, "resp", None), getattr(exc, "response", None), exc):
        for attr in ("status", "status_code", "code"):
            value = getattr(holder, attr, None)
            if isinstance(value, int) and 100 <= value < 600:
                return value
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether a failed request may succeed when repeated: quota and rate limits (HTTP 429, 'Too Many Requests',
    'Too many concurrent aggregations', an EEException mentioning a quota), transient server errors (HTTP 5xx),
    timeouts and dropped connections. Anything else (a bad expression, a missing asset, permission denied: HTTP 400/403/404) is not."""
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    status = http_status(exc)
    if status is not None:
        return status in TRANSIENT_STATUS
    return bool(_TRANSIENT_TEXT.search(str(exc)))
