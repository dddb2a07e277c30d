"""The progress bar: drawn on a terminal, silent otherwise or when turned off."""

from __future__ import annotations

import io

import pytest

from runapi._progress import Progress, format_amount, format_duration, progress_enabled, track


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_draws_rows_rate_and_eta_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNAPI_PROGRESS", raising=False)
    out, clock = FakeTTY(), Clock()
    bar = Progress(1000, unit="rows", label="history", stream=out, clock=clock)
    assert out.getvalue() == ""  # the constructor writes nothing
    clock.now += 2.0
    bar.update(500)
    first = out.getvalue()
    assert first.startswith("\rhistory")
    assert " 50% |############------------|" in first
    assert "500/1,000 rows" in first
    assert "250 rows/s" in first
    assert "ETA 0:02" in first
    clock.now += 2.0
    bar.update(500)
    bar.close()
    final = out.getvalue()
    assert final.endswith("\n")
    assert "100%" in final.splitlines()[-1] or "100%" in final.split("\r")[-1]
    assert "in 0:04" in final.split("\r")[-1]


def test_bytes_are_human_sized_and_total_may_be_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNAPI_PROGRESS", raising=False)
    out, clock = FakeTTY(), Clock()
    with Progress(None, unit="bytes", stream=out, clock=clock) as bar:
        clock.now += 1.0
        bar.update(3 * 1024 * 1024)
    text = out.getvalue()
    assert "3.0 MiB" in text
    assert "3.0 MiB/s" in text
    assert "ETA" not in text and "%" not in text


def test_redraws_are_throttled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNAPI_PROGRESS", raising=False)
    out, clock = FakeTTY(), Clock()
    bar = Progress(100, stream=out, clock=clock)
    for _ in range(50):
        bar.update(1)  # same instant: drawn once
    assert out.getvalue().count("\r") == 1
    clock.now += 0.2
    bar.update(1)
    assert out.getvalue().count("\r") == 2


def test_silent_when_not_a_terminal() -> None:
    out = io.StringIO()
    with Progress(10, stream=out) as bar:
        bar.update(10)
    assert out.getvalue() == ""
    assert bar.done == 10


def test_silent_when_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    out = FakeTTY()
    with Progress(10, stream=out, enabled=False) as bar:
        bar.update(10)
    assert out.getvalue() == ""
    monkeypatch.setenv("RUNAPI_PROGRESS", "0")
    assert not progress_enabled(None, FakeTTY())
    assert not progress_enabled(True, FakeTTY())
    monkeypatch.setenv("RUNAPI_PROGRESS", "1")
    assert progress_enabled(None, FakeTTY())


def test_track_counts_sizes_and_yields_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNAPI_PROGRESS", "0")
    pages = [[1, 2], [3], [4, 5, 6]]
    assert list(track(pages, size=len)) == pages


def test_formatting() -> None:
    assert format_amount(512, "bytes") == "512 B"
    assert format_amount(1536, "bytes") == "1.5 KiB"
    assert format_amount(5 * 1024**3, "bytes") == "5.0 GiB"
    assert format_amount(1234567, "rows") == "1,234,567 rows"
    assert format_duration(75) == "1:15"
    assert format_duration(3725) == "1:02:05"
