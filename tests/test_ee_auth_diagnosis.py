"""Earth Engine failures are diagnosed by cause: a local credential file that cannot be read (nothing sent), Earth
Engine's servers unreachable from this machine (DNS, connection: fail at once, naming the host and the network fix),
and a real refusal by the service (HTTP 401/403, a refused token: the registration fix). No real network: the
`requests` session every Google client here uses is replaced by one raising the real urllib3/requests errors."""

from __future__ import annotations

import json
import time
import types
from pathlib import Path

import pytest

ee = pytest.importorskip("ee")
requests = pytest.importorskip("requests")
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from urllib3.connection import HTTPSConnection  # noqa: E402
from urllib3.exceptions import MaxRetryError, NameResolutionError  # noqa: E402

from irrmap.app.cli import main  # noqa: E402
from irrmap.core.errors import ConfigError  # noqa: E402
from irrmap.sources.ee import auth  # noqa: E402
from tests.run_config import write_run_config  # noqa: E402

EMAIL = "irrmap-fetch@p.iam.gserviceaccount.com"


def _key(path: Path, pem: str) -> Path:
    path.write_text(json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": pem,
                                "client_email": EMAIL, "token_uri": "https://oauth2.googleapis.com/token"}))
    return path


def _good_key(path: Path) -> Path:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return _key(path, pem)


def _corrupt_key(path: Path) -> Path:  # a PEM envelope around bytes that are no DER key (as a truncated download)
    return _key(path, "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n")


def _no_dns():
    """What requests raises when the host name does not resolve (socket.gaierror -> urllib3 NameResolutionError ->
    MaxRetryError -> requests ConnectionError), the real types and texts."""
    import socket

    conn = HTTPSConnection("oauth2.googleapis.com", 443)
    cause = NameResolutionError("oauth2.googleapis.com", conn, socket.gaierror(-2, "Name or service not known"))
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/token", cause))


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Every HTTP request through `requests` raises the DNS failure; counts them; googleapiclient's back-off sleeps
    are recorded, not slept. HOME is a tmp dir, ee is reset afterwards."""
    sent, slept = [], []

    def request(self, method, url, *a, **k):
        sent.append(url)
        raise _no_dns()

    monkeypatch.setattr(requests.Session, "request", request)
    import googleapiclient.http

    monkeypatch.setattr(googleapiclient.http.time, "sleep", lambda s: slept.append(s))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(auth.KEY_ENV, raising=False)
    yield types.SimpleNamespace(sent=sent, slept=slept)
    ee.Reset()


def _assert_unreachable(msg: str):
    assert "\n" not in msg
    assert "cannot be reached" in msg and "oauth2.googleapis.com" in msg and "does not resolve" in msg
    assert "HTTPS_PROXY" in msg and "Earth Engine refused" not in msg and "registered for Earth Engine" not in msg


def test_no_dns_with_service_account_fails_at_once_as_network(tmp_path, offline):
    creds = auth.find_credentials(_good_key(tmp_path / "key.json"))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        auth.initialize(creds, "p", ee)
    _assert_unreachable(str(err.value))
    assert len(offline.sent) == 1 and offline.slept == []  # one try, no googleapiclient retries
    assert time.perf_counter() - t0 < 5


def test_no_dns_with_user_credentials_fails_at_once_as_network(tmp_path, offline):
    stored = tmp_path / "home" / ".config" / "earthengine" / "credentials"
    stored.parent.mkdir(parents=True)
    stored.write_text(json.dumps({"refresh_token": "x", "client_id": "y", "client_secret": "z"}))
    creds = auth.find_credentials(None)
    with pytest.raises(ConfigError) as err:
        auth.initialize(creds, "my-ee-project", ee)
    _assert_unreachable(str(err.value))
    assert len(offline.sent) == 1 and offline.slept == []


def test_corrupt_key_is_refused_locally_nothing_sent(tmp_path, offline):
    key = _corrupt_key(tmp_path / "bad_key.json")
    creds = auth.find_credentials(key)  # well-formed JSON: the key itself is damaged
    for call in (lambda: auth.check_local(creds), lambda: auth.initialize(creds, "p", ee)):
        with pytest.raises(ConfigError) as err:
            call()
        msg = str(err.value)
        assert "\n" not in msg and str(key) in msg and "new JSON key" in msg
        assert "Earth Engine refused" not in msg and "registered for Earth Engine" not in msg and "MIIEvQ" not in msg
    assert offline.sent == []


def test_dry_run_and_fetch_refuse_a_corrupt_key(tmp_path, offline, capsys):
    key = _corrupt_key(tmp_path / "bad_key.json")
    cfg = write_run_config(tmp_path, f'[sources.ee]\nproject = "p"\ncredentials = "{key.name}"\nyear = 2020\n'
                           'datasets = ["srtm"]\ntile_size = 32\n', bounds="[110.0, 36.825, 110.225, 37.0]")
    assert main(["fetch", str(cfg), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ready: project" not in out.replace("not ready:", "")
    line = next(x for x in out.splitlines() if x.startswith("not ready:"))
    assert str(key) in line and "new JSON key" in line
    assert main(["fetch", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(key) in err and "new JSON key" in err and "Earth Engine refused" not in err
    assert offline.sent == []


def test_unreadable_user_credentials_say_authenticate_again(tmp_path, offline):
    stored = tmp_path / "home" / ".config" / "earthengine" / "credentials"
    stored.parent.mkdir(parents=True)
    stored.write_text("not json")
    creds = auth.find_credentials(None)
    with pytest.raises(ConfigError) as err:
        auth.initialize(creds, "p", ee)
    msg = str(err.value)
    assert str(stored) in msg and "earthengine authenticate" in msg and "Earth Engine refused" not in msg
    assert offline.sent == []


def test_control_a_refused_token_is_still_a_refusal(tmp_path, monkeypatch):
    """Control (passes on the old code too): Google's token server answers 400 invalid_grant (a deleted key)."""
    def request(self, method, url, *a, **k):
        r = requests.Response()
        r.status_code, r._content, r.url = 400, b'{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}', url
        r.headers["Content-Type"] = "application/json"
        return r

    monkeypatch.setattr(requests.Session, "request", request)
    creds = auth.find_credentials(_good_key(tmp_path / "key.json"))
    try:
        with pytest.raises(ConfigError) as err:
            auth.initialize(creds, "p", ee)
    finally:
        ee.Reset()
    msg = str(err.value)
    assert "Earth Engine refused" in msg and "invalid_grant" in msg and "registered for Earth Engine" in msg and "cannot be reached" not in msg


def test_tile_requests_name_failures_are_not_retried_and_say_network():
    from googleapiclient.errors import HttpError

    from irrmap.sources.ee.transport import is_transient, unreachable

    assert unreachable(_no_dns()) == ("name", "oauth2.googleapis.com")
    assert not is_transient(_no_dns())  # waiting does not make DNS work: fail at once
    busy = HttpError(types.SimpleNamespace(status=503, reason="Service Unavailable"), b"backend error")
    assert is_transient(busy) and unreachable(busy) is None  # control: a real transient error is still retried
    denied = HttpError(types.SimpleNamespace(status=403, reason="Forbidden"), b"permission denied")
    assert not is_transient(denied) and unreachable(denied) is None
