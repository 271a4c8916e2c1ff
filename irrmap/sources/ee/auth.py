"""Earth Engine credentials and project: found before any request, never copied anywhere.

Two kinds of credentials, checked in this order:
  1. a service-account key file (JSON with type "service_account", client_email, private_key): the path in
     [sources.ee].credentials, else in the GOOGLE_APPLICATION_CREDENTIALS environment variable;
  2. the user's own credentials, stored by `earthengine authenticate` at ~/.config/earthengine/credentials
     (earthengine-api's ee.oauth.get_credentials_path).
The project is [sources.ee].project, else the one `earthengine set_project` stored beside the user's credentials.
With neither credentials nor project the error is one line saying what to run. Only the key's path and the service
account's e-mail are ever put into messages; no function here returns or logs key material.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from irrmap.core.errors import ConfigError

KEY_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
EXTRA = "pip install 'irrmap[ee]'"
AUTHENTICATE = ("run `earthengine authenticate` (your Google account), or set [sources.ee].credentials "
                f"or {KEY_ENV} to a service-account key file (JSON)")


def require_ee():
    """The `ee` module (earthengine-api); ConfigError naming the optional extra when it is not installed."""
    try:
        import ee
    except ImportError:
        raise ConfigError("[sources.ee] needs earthengine-api, which is not installed", "[sources.ee]", EXTRA) from None
    return ee


def user_credentials_path() -> Path:
    """Where `earthengine authenticate` stores the user's credentials (ee.oauth.get_credentials_path)."""
    return Path(os.path.expanduser("~/.config/earthengine/credentials"))


@dataclass(frozen=True)
class Credentials:
    """Which credentials a fetch uses: `kind` "service-account" or "user", the file `path`, the service
    account's e-mail (`account`) and the project stored with user credentials (`stored_project`)."""

    kind: str
    path: Path
    account: str | None = None
    stored_project: str | None = None

    def describe(self) -> str:
        if self.kind == "service-account":
            return f"service account {self.account} (key {self.path})"
        return f"your own credentials ({self.path}, from `earthengine authenticate`)"


def _service_account(path: Path, where: str) -> Credentials:
    if not path.is_file():
        raise ConfigError(f"service-account key {path} does not exist", where, f"point it at the key's JSON file, or {AUTHENTICATE}")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        info = None  # the parser's message could quote the key: say only what is wrong
    if not isinstance(info, dict) or info.get("type") != "service_account" or not info.get("client_email") or not info.get("private_key"):
        raise ConfigError(f"{path} is not a service-account key (a JSON file with type \"service_account\", client_email and private_key)",
                          where, "download a JSON key of the service account (Google Cloud console > IAM > Service accounts > Keys)")
    return Credentials("service-account", path, account=str(info["client_email"]))


def find_credentials(key_path: Path | None, environ=None) -> Credentials:
    """The credentials to use: the service-account key at `key_path` ([sources.ee].credentials, resolved), else
    at $GOOGLE_APPLICATION_CREDENTIALS, else the user's stored credentials. ConfigError (one line, what to run)
    when there are none, or when a named key file is missing or not a service-account key."""
    environ = os.environ if environ is None else environ
    if key_path is not None:
        return _service_account(Path(key_path), "[sources.ee].credentials")
    if environ.get(KEY_ENV):
        return _service_account(Path(environ[KEY_ENV]), f"${KEY_ENV}")
    user = user_credentials_path()
    if user.is_file():
        try:
            stored = json.loads(user.read_text(encoding="utf-8")).get("project")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            stored = None
        return Credentials("user", user, stored_project=stored if isinstance(stored, str) and stored else None)
    raise ConfigError("no Earth Engine credentials found", "[sources.ee]", AUTHENTICATE)


def resolve_project(project: str | None, creds: Credentials) -> str:
    """[sources.ee].project, else the project stored with the user's credentials; ConfigError saying what to set."""
    found = project or creds.stored_project
    if not found:
        raise ConfigError("no Earth Engine project given", "[sources.ee].project",
                          'add project = "YOUR-CLOUD-PROJECT" to [sources.ee] (a Google Cloud project registered for Earth Engine), '
                          "or run `earthengine set_project YOUR-CLOUD-PROJECT`")
    return found


def initialize(creds: Credentials, project: str, ee=None) -> None:
    """ee.Initialize with these credentials and project; ConfigError (first line of Earth Engine's message)
    when Earth Engine refuses them."""
    ee = ee or require_ee()
    try:
        if creds.kind == "service-account":
            ee.Initialize(ee.ServiceAccountCredentials(creds.account, key_file=str(creds.path)), project=project)
        else:
            ee.Initialize(project=project)
    except Exception as exc:  # ee.EEException, google.auth errors: their text names the cause, never the key
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConfigError(f"Earth Engine refused {creds.describe()} for project {project!r}: {first}", "[sources.ee]",
                          f"check that the project is registered for Earth Engine and the account may use it; {AUTHENTICATE}") from None
