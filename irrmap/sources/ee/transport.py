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


# Exception classes (matched by name along the cause chain, so no HTTP library must be importable) and message
# fragments that mean this machine could not reach a server at all: DNS failures (socket.gaierror, urllib3
# NameResolutionError, httplib2 ServerNotFoundError), refused or timed-out connections, proxies that fail.
_NO_NAME = frozenset({"gaierror", "NameResolutionError", "ServerNotFoundError"})
_NO_NAME_TEXT = re.compile(r"failed to resolve|name or service not known|temporary failure in name resolution|"
                           r"nodename nor servname|getaddrinfo failed|no address associated with hostname", re.IGNORECASE)
_NO_ROUTE = frozenset({"NewConnectionError", "ConnectTimeoutError", "ConnectTimeout", "ProxyError", "MaxRetryError",
                       "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError",
                       "TimeoutError", "timeout", "Timeout", "ReadTimeout", "ReadTimeoutError", "TransportError"})
# the hosts an Earth Engine session talks to: OAuth token endpoint and the API (earthengine-api ee.data defaults)
EE_HOSTS = ("oauth2.googleapis.com", "earthengine.googleapis.com")
_HOST = re.compile(r"(?:host='|Failed to resolve '|Unable to find the server at )([A-Za-z0-9.-]+)")


def _chain(exc: BaseException):
    """exc, its causes and contexts, and the exceptions requests/urllib3 keep in args or .reason."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None), *[a for a in e.args if isinstance(a, BaseException)]]


def unreachable(exc: BaseException) -> tuple[str, str] | None:
    """(kind, host) when `exc` says the server could not be reached from this machine, else None: kind
    "name" (the host name does not resolve: no DNS, no network) or "connection" (no connection, timed out, proxy
    failed); host as named in the error, else EE_HOSTS joined. An HTTP answer (any status) is never unreachable."""
    if http_status(exc) is not None:
        return None
    chain = list(_chain(exc))
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    text = " ".join(str(e) for e in chain)
    found = _HOST.search(text)
    host = found.group(1) if found else " / ".join(EE_HOSTS)
    if names & _NO_NAME or _NO_NAME_TEXT.search(text):
        return "name", host
    if names & _NO_ROUTE:
        return "connection", host
    return None


def unreachable_message(kind: str, host: str) -> tuple[str, str]:
    """(what, fix) for an unreachable Earth Engine server: the cause is the network, not the credentials."""
    what = (f"Earth Engine's servers cannot be reached from this machine: the host name {host} does not resolve (no DNS / no network)"
            if kind == "name" else f"Earth Engine's servers cannot be reached from this machine: no connection to {host}")
    fix = ("check the network: behind a proxy set HTTPS_PROXY (e.g. HTTPS_PROXY=http://proxy:3128), or run where the "
           "network reaches Google (https://earthengine.googleapis.com); finished tiles are kept")
    return what, fix


def is_transient(exc: BaseException) -> bool:
    """Whether a failed request may succeed when repeated: quota and rate limits (HTTP 429, 'Too Many Requests',
    'Too many concurrent aggregations', an EEException mentioning a quota), transient server errors (HTTP 5xx),
    timeouts and dropped connections. Anything else (a bad expression, a missing asset, permission denied: HTTP 400/403/404)
    is not, nor a host name that does not resolve (unreachable: no network here, waiting does not help)."""
    reach = unreachable(exc)
    if reach is not None and reach[0] == "name":
        return False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    status = http_status(exc)
    if status is not None:
        return status in TRANSIENT_STATUS
    return bool(_TRANSIENT_TEXT.search(str(exc)))
