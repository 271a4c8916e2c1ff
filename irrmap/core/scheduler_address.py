"""The syntax of a scheduler value (`[run].scheduler`, `irrmap run --scheduler`), checked without importing
dask.distributed, connecting or reading anything, so that a malformed value is refused before any input is read.

Accepted (FORMS): `local-processes:N` with N a whole number >= 1 (N worker processes on this machine, any case), or
the address of a dask.distributed scheduler `SCHEME://HOST:PORT` (no scheme: dask's
`distributed.comm.default-scheme`, tcp), as distributed parses it (distributed.comm.addressing.parse_address and
parse_host_port): SCHEME one of distributed's transports (tcp, tls, ws, wss, ucx, inproc, and any registered under
the entry-point group `distributed.comm.backends`), HOST a host name (RFC 1123 labels of letters, digits, '-' and
'_', at most 63 characters each, 253 in all) or an IP address (IPv6 in brackets, as distributed requires), PORT a
TCP port 1..65535 (RFC 793: 16 bits, 0 reserved). An inproc:// location is not checked here (irrmap.app.cluster
does). Whether the transport can be used here and the scheduler answers is irrmap.app.cluster's part.
"""

from __future__ import annotations

import ipaddress
import re

#: the accepted forms, said in every error of a scheduler value
FORMS = ("write local-processes:N with N >= 1 (N worker processes on this machine), or a scheduler's address "
         "SCHEME://HOST:PORT (what `dask scheduler` prints, e.g. tcp://10.0.0.5:8786; SCHEME tcp, tls, ws, wss, ucx or inproc)")
#: distributed's own transports (distributed.comm.registry.backends once distributed.comm is imported)
SCHEMES = ("inproc", "tcp", "tls", "ucx", "ws", "wss")
_LOCAL = re.compile(r"local-processes(.*)", re.IGNORECASE | re.DOTALL)
_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def _schemes() -> list[str]:
    """SCHEMES and the schemes registered by installed packages (entry-point group distributed.comm.backends)."""
    from importlib.metadata import entry_points

    try:
        extra = [ep.name for ep in entry_points(group="distributed.comm.backends")]
    except Exception:  # noqa: BLE001 - broken metadata of an unrelated package: distributed's own schemes remain
        extra = []
    return sorted(set(SCHEMES) | set(extra))


def _default_scheme() -> str:
    import dask

    return str(dask.config.get("distributed.comm.default-scheme", default=None) or "tcp")


def _host_problem(host: str) -> str | None:
    """Why `host` is no host name or IP address, or None."""
    if not host:
        return "it names no host"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) <= 253 and name and all(_LABEL.fullmatch(label) for label in name.split(".")):
        return None
    return f"host {host!r} is not a host name or IP address"


def parse_scheduler(value: str) -> tuple[str, str] | int:
    """N for `local-processes:N`, else (scheme, location) of a scheduler address (scheme in lower case).

    Raises ValueError (its text says what is wrong with `value`; FORMS says what is accepted) for anything else: a
    local-processes count that is not a whole number >= 1 (one rule for 0, -1, 2.5, x or none), another value starting
    with 'local' that is not a host name such as localhost (a misspelt local-processes), an unknown scheme, a
    location without host or port, a host that is no host name or IP address (e.g. tcp//host:8786, whose missing ':'
    makes 'tcp//host' the host), an IPv6 address without brackets, a port outside 1..65535."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a scheduler (a text is expected)")
    text = value.strip()
    m = _LOCAL.fullmatch(text)
    if m is not None:
        count = m.group(1)[1:] if m.group(1).startswith(":") else None
        if count is None or not count.isascii() or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{value!r}: the number of worker processes N in local-processes:N must be a whole number >= 1")
        return int(count)
    if not text:
        raise ValueError("the scheduler value is empty")
    scheme, sep, location = text.partition("://")
    if not sep:
        scheme, location = _default_scheme(), text
        head = text.split(":", 1)[0].lower()
        if head.startswith("local") and not head.startswith("localhost"):
            raise ValueError(f"{value!r} is not a scheduler (local-processes:N is the form for worker processes on this machine)")
    scheme = scheme.lower()
    if not _SCHEME.fullmatch(scheme):
        raise ValueError(f"{value!r} is not a scheduler address ({scheme!r} is not a protocol name)")
    known = _schemes()
    if scheme not in known:
        raise ValueError(f"{value!r} is not a scheduler address (unknown protocol {scheme!r}; known: {', '.join(known)})")
    if scheme == "inproc":
        if not location:
            raise ValueError(f"{value!r} is not a scheduler address (it names no inproc location)")
        return scheme, location
    if location.startswith("["):  # IPv6 notation, as distributed.comm.addressing.parse_host_port reads it
        host, bracket, tail = location[1:].partition("]")
        port = tail[1:] if bracket and tail.startswith(":") else None
        if not bracket or port is None:
            raise ValueError(f"{value!r} is not a scheduler address (write an IPv6 address as [ADDRESS]:PORT)")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{value!r} is not a scheduler address ({host!r} in brackets is not an IPv6 address)") from None
    else:
        host, colon, port = location.rpartition(":")
        if not colon:
            raise ValueError(f"{value!r} is not a scheduler address (it has no port: HOST:PORT)")
        if ":" in host:
            raise ValueError(f"{value!r} is not a scheduler address (an IPv6 host needs brackets, as in tcp://[::1]:8786)")
        problem = _host_problem(host)
        if problem is not None:
            hint = "; is ':' missing in '://'?" if "/" in host else ""
            raise ValueError(f"{value!r} is not a scheduler address ({problem}{hint})")
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not a scheduler address (port {port!r} is not a TCP port 1..65535)")
    return scheme, location
