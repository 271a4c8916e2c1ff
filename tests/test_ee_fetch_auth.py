"""Earth Engine credentials: a service-account key or the user's own credentials; without them, or without a
project, or without earthengine-api, a one-line error that says exactly what to run; and no key material ever
reaches an output, a manifest or a log."""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from irrmap.app.cli import main
from irrmap.core.errors import ConfigError
from irrmap.core.grid import Grid
from irrmap.sources.ee import auth
from tests.ee_recorded import RecordedTransport
from tests.run_config import write_run_config

SECRET = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-SECRET-KEY-MATERIAL"
KEY_ID = "0123456789abcdef-private-key-id"


def _key(path: Path, **over) -> Path:
    info = {"type": "service_account", "project_id": "p", "private_key_id": KEY_ID,
            "private_key": f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n",
            "client_email": "irrmap-fetch@p.iam.gserviceaccount.com", **over}
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(auth.KEY_ENV, raising=False)
    return tmp_path


def test_no_credentials_one_line_saying_what_to_run(no_credentials):
    with pytest.raises(ConfigError) as err:
        auth.find_credentials(None)
    msg = str(err.value)
    assert "\n" not in msg and "earthengine authenticate" in msg and auth.KEY_ENV in msg


def test_user_credentials_and_their_stored_project(no_credentials):
    stored = no_credentials / "home" / ".config" / "earthengine" / "credentials"
    stored.parent.mkdir(parents=True)
    stored.write_text(json.dumps({"refresh_token": "1//token-SECRET", "project": "stored-project"}))
    creds = auth.find_credentials(None)
    assert (creds.kind, creds.path, creds.stored_project) == ("user", stored, "stored-project")
    assert auth.resolve_project(None, creds) == "stored-project"
    assert auth.resolve_project("mine", creds) == "mine"
    assert "token-SECRET" not in creds.describe() and "token-SECRET" not in repr(creds)


def test_no_project_one_line_saying_what_to_set(no_credentials):
    creds = auth.find_credentials(_key(no_credentials / "key.json"))
    with pytest.raises(ConfigError) as err:
        auth.resolve_project(None, creds)
    msg = str(err.value)
    assert "\n" not in msg and "[sources.ee].project" in msg and "earthengine set_project" in msg


def test_service_account_from_config_or_environment(no_credentials, monkeypatch):
    key = _key(no_credentials / "key.json")
    assert auth.find_credentials(key).account == "irrmap-fetch@p.iam.gserviceaccount.com"
    monkeypatch.setenv(auth.KEY_ENV, str(key))
    creds = auth.find_credentials(None)
    assert (creds.kind, creds.path) == ("service-account", key)
    assert SECRET not in repr(creds) and KEY_ID not in repr(creds)


@pytest.mark.parametrize("content", ['{"type": "authorized_user", "private_key": "' + SECRET + '"}', "{not json " + SECRET])
def test_a_file_that_is_not_a_key_is_refused_without_quoting_it(no_credentials, content):
    bad = no_credentials / "bad.json"
    bad.write_text(content)
    with pytest.raises(ConfigError) as err:
        auth.find_credentials(bad)
    assert "not a service-account key" in str(err.value) and SECRET not in str(err.value)


def test_missing_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "ee", None)  # `import ee` now raises ImportError, as without earthengine-api
    with pytest.raises(ConfigError) as err:
        auth.require_ee()
    assert "pip install 'irrmap[ee]'" in str(err.value) and "\n" not in str(err.value)


def test_initialize_service_account_and_refusal():
    calls = []
    fake = types.SimpleNamespace(
        ServiceAccountCredentials=lambda email, key_file: ("SA", email, key_file),
        Initialize=lambda credentials=None, project=None: calls.append((credentials, project)))
    creds = auth.Credentials("service-account", Path("/k.json"), account="a@p.iam.gserviceaccount.com")
    auth.initialize(creds, "proj", fake)
    assert calls == [(("SA", "a@p.iam.gserviceaccount.com", "/k.json"), "proj")]

    def refuse(credentials=None, project=None):
        raise RuntimeError("Caller does not have required permission to use project proj.\nGrant the caller ...")

    with pytest.raises(ConfigError) as err:
        auth.initialize(creds, "proj", types.SimpleNamespace(ServiceAccountCredentials=fake.ServiceAccountCredentials, Initialize=refuse))
    assert "\n" not in str(err.value) and "required permission" in str(err.value)


def _config(tmp_path: Path, extra: str = "") -> Path:
    return write_run_config(tmp_path, f'[sources.ee]\nyear = 2020\ndatasets = ["srtm"]\ntile_size = 32\n{extra}',
                            bounds="[110.0, 36.825, 110.225, 37.0]")


def test_cli_without_credentials_or_extra_exits_2_with_one_line(no_credentials, capsys, monkeypatch):
    cfg = _config(no_credentials, 'project = "p"')
    monkeypatch.setitem(sys.modules, "ee", None)
    assert main(["fetch", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("irrmap: error:") and "irrmap[ee]" in err
    monkeypatch.setitem(sys.modules, "ee", types.ModuleType("ee"))  # installed, but no credentials
    assert main(["fetch", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "earthengine authenticate" in err


def test_no_key_material_in_outputs_manifest_or_logs(no_credentials, caplog):
    """A whole `irrmap run` with a service-account key (the real credential look-up; a recorded transport instead
    of Earth Engine): no file written and no log line holds the key, its id or the key file's text."""
    from irrmap.app.pipeline import run_pipeline
    from irrmap.app.stages import fetch as fetch_stage

    key = _key(no_credentials / "sa-key.json")
    cfg = _config(no_credentials, f'project = "p"\ncredentials = "{key.name}"')
    grid = Grid(CRS.from_epsg(4326), Affine(0.0025, 0, 110.0, 0, -0.0025, 37.0), 70, 90)
    truth = {"dem": np.arange(70 * 90, dtype="float32").reshape(70, 90)}

    def recorded(sec, resolve, grid_, start, end):  # irrmap.sources.ee.fetch.connect's arguments and result
        creds = auth.find_credentials(resolve(sec.credentials))  # what `connect` does, without Earth Engine
        about = {"project": auth.resolve_project(sec.project, creds), "credentials": creds.kind}
        return (lambda: RecordedTransport(truth, grid)), (lambda ds: {o: o for o in ds.outputs}), about

    caplog.set_level(logging.DEBUG)
    manifest = run_pipeline(cfg, stages=[fetch_stage.stage(connection=recorded)])
    assert manifest["stages"]["fetch"]["status"] == "ran"
    out = no_credentials / "out"
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "ee_fetch.json" for p in written) and any(p.name == "manifest.json" for p in written)
    assert json.loads((out / "aligned" / "ee_fetch.json").read_text())["credentials"] == "service-account"
    for p in written:
        blob = p.read_bytes()
        for marker in (SECRET, KEY_ID, "BEGIN PRIVATE KEY"):
            assert marker.encode() not in blob, p
    for marker in (SECRET, KEY_ID, "BEGIN PRIVATE KEY"):
        assert marker not in caplog.text
    with rasterio.open(out / "aligned" / "dem.tif") as src:
        np.testing.assert_array_equal(src.read(1), truth["dem"])
