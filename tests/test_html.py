"""Notebook HTML: escaped compact tables, the run page iframe with a signed token; logging."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import httpx
import pytest
from conftest import User
from seeding import close_apis, log_history, make_api, new_run

__all__ = ["close_apis"]

EVIL = '<script>alert("x")</script>'


def test_run_and_runs_html_escape_everything(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="html", run_id="html1")
    run.name = EVIL
    run.tags = [EVIL]
    run.config[EVIL] = EVIL
    run.summary["acc"] = 0.5
    run.update()
    fresh = api.run(f"{user.entity}/html/html1")
    page = fresh._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "acc" in page and "0.5" in page and "running" in page
    runs_html = api.runs(f"{user.entity}/html")._repr_html_()
    assert "<script>" not in runs_html and "html1" in runs_html
    assert "1 runs" in runs_html


def test_to_html_embeds_the_page_with_a_working_token(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="html", run_id="html2")
    frame = run.to_html(height=300, hidden=True)
    assert frame.startswith("<iframe ") and "height:300px" in frame and "display:none" in frame
    src = frame.split('src="')[1].split('"')[0].replace("&amp;", "&")
    assert src.startswith(f"{user.server.url}/{user.entity}/html/runs/html2?")
    assert "token=" in src
    page = httpx.get(src, timeout=30)  # no auth header: the token grants the page
    assert page.status_code == 200 and "html2" in page.text
    tampered = src.replace("/runs/html2?", "/runs/other?")
    assert httpx.get(tampered, timeout=30).status_code == 401
    bare = httpx.get(src.split("?")[0], timeout=30)
    assert bare.status_code == 401 and bare.headers["www-authenticate"].startswith("Basic")
    with_auth = httpx.get(src.split("?")[0], auth=user.auth, timeout=30)
    assert with_auth.status_code == 200


def test_other_users_cannot_see_or_sign_a_page(user: User, other_user: User) -> None:
    api = make_api(user)
    new_run(api, user, project="html", run_id="html3")
    url = f"{user.server.url}/{user.entity}/html/runs/html3"
    assert httpx.get(url, auth=other_user.auth, timeout=30).status_code == 404
    body = {"entity": user.entity, "project": "html", "run": "html3"}
    signed = httpx.post(
        f"{user.server.url}/pages/token", json=body, auth=other_user.auth, timeout=30
    )
    assert signed.status_code == 404
    assert (
        httpx.post(
            f"{user.server.url}/pages/token", content=b"{", auth=user.auth, timeout=30
        ).status_code
        == 400
    )


def test_debug_log_has_requests_but_never_the_key(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="runapi")
    api = make_api(user)
    run = new_run(api, user, project="html", run_id="html4")
    api.run(f"{user.entity}/html/html4")
    run.to_html()
    text = caplog.text
    assert "POST" in text and "/graphql -> 200" in text
    assert "[redacted]" in text
    encoded = base64.b64encode(f"api:{user.api_key}".encode()).decode()
    assert user.api_key not in text and encoded not in text
    assert "token=" not in text or "token=%5Bredacted%5D" in text or "token=[redacted]" in text


def test_logger_is_silent_by_default(user: User, capsys: pytest.CaptureFixture[str]) -> None:
    api = make_api(user)
    new_run(api, user, project="html", run_id="html5")
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_run_page_axes_and_file_sizes_read_as_people_write_them(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="html", run_id="html3")
    log_history(user, run, [{"_step": s, "loss": 0.5 / (s + 1)} for s in range(2001)])
    (tmp_path / "model.bin").write_bytes(b"x" * 1536)
    run.upload_file(tmp_path / "model.bin", root=tmp_path)
    page = httpx.get(f"{user.server.url}/{user.entity}/html/runs/html3", auth=user.auth)
    assert page.status_code == 200
    text = page.text
    assert ">2,000 _step</text>" in text and ">0.5</text>" in text
    assert "e+0" not in text
    assert '<td class="num">1.5 KiB</td>' in text and "white-space:nowrap" in text


def test_display_shows_the_page_in_ipython_without_warnings(user: User) -> None:
    pytest.importorskip("IPython")  # a dev dependency; absent from a '.[server]' install
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    api = make_api(user)
    run = new_run(api, user, project="html", run_id="html4")
    with capture_output() as captured:  # warnings are errors in this suite
        assert run.display(height=250) is True
    (shown,) = captured.outputs
    html = shown.data["text/html"]
    assert html.startswith("<div><iframe ") and "height:250px" in html and "/runs/html4?" in html
