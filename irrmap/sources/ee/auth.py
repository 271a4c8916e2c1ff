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


NEW_KEY = ("download a new JSON key of the service account (Google Cloud console > IAM > Service accounts > Keys) "
           "and point [sources.ee].credentials at it")
REAUTHENTICATE = "run `earthengine authenticate` again to write new credentials"


def check_local(creds: Credentials) -> None:
    """Read the credentials as earthengine-api will, without sending anything: a service-account key is loaded with
    google.oauth2.service_account.Credentials.from_service_account_info (what ee.ServiceAccountCredentials uses),
    so a damaged private key ("Could not deserialize key data") is found here; the user's stored credentials must be
    a JSON object with a refresh_token (ee.oauth.get_credentials_arguments). ConfigError (one line: the file, what is
    wrong, the fix; never the key) otherwise. Without google-auth (earthengine-api missing) a key is not loaded."""
    try:
        info = json.loads(creds.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        info = None
    if creds.kind != "service-account":
        if not isinstance(info, dict) or not info.get("refresh_token"):
            raise ConfigError(f"Earth Engine credentials {creds.path} cannot be read (not a JSON object with a refresh_token)",
                              "[sources.ee]", REAUTHENTICATE)
        return
    try:
        from google.oauth2 import service_account
    except ImportError:
        return
    try:
        service_account.Credentials.from_service_account_info(info)
    except Exception as exc:  # ValueError "Could not deserialize key data", MalformedError, ...: the key, unreadable
        raise ConfigError(f"service-account key {creds.path} cannot be read here: its private key is damaged or not a PEM "
                          f"RSA key ({type(exc).__name__}); nothing was sent to Earth Engine", "[sources.ee].credentials", NEW_KEY) from None


def _google_credentials(creds: Credentials, ee):
    """The google-auth credentials earthengine-api would build from `creds` (ee.ServiceAccountCredentials, or
    ee.data.get_persistent_credentials for the user's own)."""
    if creds.kind == "service-account":
        return ee.ServiceAccountCredentials(creds.account, key_file=str(creds.path))
    return ee.data.get_persistent_credentials()


def _refresh(credentials) -> None:
    """One token request (google-auth sends it once: a transport error is not retried), so that an unreachable
    network fails here at once instead of in googleapiclient's five retried discovery requests in ee.Initialize."""
    refresh = getattr(credentials, "refresh", None)
    if not callable(refresh):
        return
    from google.auth.transport.requests import Request

    refresh(Request())


def initialize(creds: Credentials, project: str, ee=None) -> None:
    """ee.Initialize with these credentials and project, after one token request. The failure is classified by its
    cause (ConfigError, one line each): the local credential file unreadable (check_local; nothing sent), Earth
    Engine's servers unreachable from this machine (DNS, connection, proxy: irrmap.sources.ee.transport.unreachable,
    naming the host; fix: the network / HTTPS_PROXY), or else a refusal by the service (HTTP 401/403, a RefreshError,
    an EEException: first line of its message; fix: the project's registration and the account)."""
    from irrmap.sources.ee.transport import unreachable, unreachable_message

    ee = ee or require_ee()
    try:
        try:
            credentials = _google_credentials(creds, ee)
        except Exception:  # reading the key or the stored file failed locally: say which file, with its fix
            check_local(creds)
            raise
        _refresh(credentials)
        ee.Initialize(credentials, project=project)
    except ConfigError:
        raise
    except Exception as exc:  # ee.EEException, google.auth errors: their text names the cause, never the key
        reach = unreachable(exc)
        if reach is not None:
            what, fix = unreachable_message(*reach)
            raise ConfigError(f"{what} (checking {creds.describe()} for project {project!r})", "[sources.ee]",
                              fix.replace("; finished tiles are kept", "")) from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConfigError(f"Earth Engine refused {creds.describe()} for project {project!r}: {first}", "[sources.ee]",
                          f"check that the project is registered for Earth Engine and the account may use it; {AUTHENTICATE}") from None
