"""Api settings: argument, else environment, else ~/.netrc, else default; no I/O."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import User
from seeding import close_apis, make_api, track

import runapi
from runapi._config import app_url_for, resolve_settings

__all__ = ["close_apis"]


def test_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"WANDB_API_KEY": "envkey", "WANDB_BASE_URL": "https://env.example"}
    s = resolve_settings("argkey", "https://arg.example/", environ=env)
    assert (s.api_key, s.base_url) == ("argkey", "https://arg.example")


def test_environment_then_default(tmp_path: Path) -> None:
    s = resolve_settings(environ={"WANDB_API_KEY": "envkey"}, netrc_path=tmp_path / "none")
    assert s.api_key == "envkey"
    assert s.base_url == "https://api.wandb.ai"
    assert s.app_url == "https://wandb.ai"
    s = resolve_settings(environ={"WANDB_API_KEY": "k", "WANDB_BASE_URL": "http://h:9"})
    assert s.base_url == "http://h:9"


def test_netrc_for_the_host(tmp_path: Path) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text(
        "machine other.example login user password wrong\n"
        "machine api.example.com login user password fromnetrc\n"
    )
    netrc.chmod(0o600)
    s = resolve_settings(environ={"WANDB_BASE_URL": "https://api.example.com"}, netrc_path=netrc)
    assert s.api_key == "fromnetrc"
    with pytest.raises(runapi.ConfigurationError):
        resolve_settings(environ={"WANDB_BASE_URL": "https://third.example"}, netrc_path=netrc)


def test_netrc_from_home_in_constructor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine api.wandb.ai login user password homekey\n")
    netrc.chmod(0o600)
    api = track(runapi.Api())
    assert api.base_url == "https://api.wandb.ai"


def test_app_url() -> None:
    assert app_url_for("https://api.wandb.ai") == "https://wandb.ai"
    assert app_url_for("https://api.corp.example:8443") == "https://corp.example:8443"
    assert app_url_for("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert app_url_for("http://localhost:8080") == "http://localhost:8080"
    s = resolve_settings("k", "https://api.wandb.ai", environ={"WANDB_APP_URL": "https://app/"})
    assert s.app_url == "https://app"


def test_bad_base_url() -> None:
    with pytest.raises(runapi.ConfigurationError, match="http"):
        resolve_settings("k", "ftp://x")


def test_constructor_does_no_io() -> None:
    class Refuse(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise AssertionError("no request expected")

    api = track(runapi.Api(api_key="k", base_url="http://nowhere.invalid", transport=Refuse()))
    assert api.base_url == "http://nowhere.invalid"
    assert api.app_url == "http://nowhere.invalid"
    run = runapi.Run(api._ctx, runapi._paths.RunPath("e", "p", "r"))
    assert run.path == ["e", "p", "r"]
    runs = api.runs("e/p")
    assert runs.entity == "e"


@pytest.mark.parametrize("kwargs", [{"max_retries": -1}, {"timeout": 0}, {"timeout": -1.0}])
def test_bad_options(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        runapi.Api(api_key="k", base_url="http://x", **kwargs)  # type: ignore[arg-type]


def test_context_manager_and_viewer(user: User) -> None:
    with runapi.Api(api_key=user.api_key, base_url=user.server.url) as api:
        viewer = api.viewer()
        assert viewer.name == user.name
        assert api.default_entity == user.entity
    assert "Api" in repr(make_api(user))


def test_env_settings_reach_the_server(monkeypatch: pytest.MonkeyPatch, user: User) -> None:
    monkeypatch.setenv("WANDB_API_KEY", user.api_key)
    monkeypatch.setenv("WANDB_BASE_URL", user.server.url)
    api = track(runapi.Api())
    assert api.viewer().entity == user.entity


def test_import_does_not_load_pandas() -> None:
    import subprocess
    import sys

    code = "import sys, runapi; print('pandas' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"
