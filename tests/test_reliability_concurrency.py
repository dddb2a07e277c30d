"""Concurrency, short version (~5 s): 16 writers (file_stream and upsertBucket) on one run
and on several; tests/stress/test_concurrency.py runs the same for 60 s."""

from __future__ import annotations

import os

import pytest
from conftest import User
from load_writers import run_load, verify

SECONDS = float(os.environ.get("RUNAPI_CONCURRENCY_SECONDS", "2.5"))


@pytest.mark.parametrize("shared_run", [True, False], ids=["one-run", "several-runs"])
def test_sixteen_writers_lose_nothing(user: User, shared_run: bool) -> None:
    result = run_load(user, SECONDS, writers=16, shared_run=shared_run)
    verify(user, result)
