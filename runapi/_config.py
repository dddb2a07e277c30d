"""Settings: each from the argument, else the environment, else `~/.netrc`, else a default."""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from ._exceptions import ConfigurationError, MissingAPIKeyError

DEFAULT_BASE_URL = "https://api.wandb.ai"

_MISSING_KEY = (
    "No W&B API key found. Pass it as runapi.Api(api_key=...), set the WANDB_API_KEY "
    "environment variable, or add a `machine {host} login user password <key>` entry "
    "to ~/.netrc."
)


@dataclass(frozen=True)
class Settings:
    """Resolved client settings."""

    api_key: str
    base_url: str
    app_url: str


def _netrc_key(host: str, netrc_path: Path | None) -> str | None:
    path = netrc_path if netrc_path is not None else Path.home() / ".netrc"
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (netrc.NetrcParseError, OSError):
        return None
    if entry is None:
        return None
    password = entry[2]
    return password or None


def app_url_for(base_url: str) -> str:
    """The web app URL for an API base URL: drop a leading `api.` host label.

    ```python
    >>> app_url_for("https://api.wandb.ai")
    'https://wandb.ai'
    >>> app_url_for("http://127.0.0.1:8080")
    'http://127.0.0.1:8080'
    ```
    """
    url = httpx.URL(base_url)
    host = url.host
    if host.startswith("api.") and host.count(".") >= 2:
        url = url.copy_with(host=host[len("api.") :])
    return str(url).rstrip("/")


def resolve_settings(
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    netrc_path: Path | None = None,
) -> Settings:
    """Resolve the API key, base URL and app URL (no network I/O).

    Raises `MissingAPIKeyError` (a `ConfigurationError`, so a `ValueError`) saying how to set
    the key when none is found.
    """
    env = os.environ if environ is None else environ
    url = base_url or env.get("WANDB_BASE_URL") or DEFAULT_BASE_URL
    url = url.strip().rstrip("/")
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL!r}, not {url!r}"
        )
    key = api_key or env.get("WANDB_API_KEY") or _netrc_key(parsed.host, netrc_path)
    if not key:
        raise MissingAPIKeyError(_MISSING_KEY.format(host=parsed.host), host=parsed.host)
    app_url = (env.get("WANDB_APP_URL") or "").strip().rstrip("/") or app_url_for(url)
    return Settings(api_key=key.strip(), base_url=url, app_url=app_url)
