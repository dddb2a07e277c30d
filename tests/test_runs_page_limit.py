"""The runs table and listings against a server with a low page limit: requests fall back
to the allowed page size, and the table's pages after the first are fetched concurrently
from a lean cursor listing, with exactly the frame the Run objects give."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import Server, User, _wait_until_up, free_port
from databases import use_test_database
from seeding import finish, log_history, new_run
from server_gql import upsert, wrapped

import runapi
from runapi.filters import Config, Tags

LIMIT = 3
PROJECT = "limited"
COUNT = 10


class OperationLog(httpx.BaseTransport):
    """Records the GraphQL operation name and `first` of every request, with peak
    concurrency; answers the first `throttle` requests with 429."""

    def __init__(self, throttle: int = 0) -> None:
        self.inner = httpx.HTTPTransport()
        self.lock = threading.Lock()
        self.calls: list[tuple[str, int | None]] = []
        self.throttle = throttle
        self.in_flight = 0
        self.peak = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        with self.lock:
            if self.throttle:
                self.throttle -= 1
                return httpx.Response(429, headers={"Retry-After": "0"}, text="slow down")
            self.calls.append((body.get("operationName"), body.get("variables", {}).get("first")))
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(0.02)
            return self.inner.handle_request(request)
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import uvicorn

    from runapi_server.app import create_app
    from runapi_server.limits import Limits

    data_dir: Path = use_test_database(tmp_path_factory.mktemp("limited-data"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(data_dir, public_url=url, limits=Limits(max_page_size=LIMIT))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_until_up(url)
    yield Server(url=url, data_dir=data_dir)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def owner(limited: Server) -> User:
    user = User(name="limited", api_key=limited.create_user("limited"), server=limited)
    with user.http() as client:
        for i in range(COUNT):
            upsert(
                client,
                name=f"run{i:02d}",
                modelName=PROJECT,
                tags=["odd"] if i % 2 else ["even"],
                config=wrapped({"lr": i / 10, "opt": {"name": f"o{i % 3}"}}),
                summaryMetrics=json.dumps({"loss": 1.0 / (i + 1), "nested": {"a": i}}),
            )
    return user


def api_for(user: User, transport: httpx.BaseTransport | None = None) -> runapi.Api:
    return runapi.Api(api_key=user.api_key, base_url=user.server.url, transport=transport)


def test_table_falls_back_to_the_page_limit_and_fetches_pages_concurrently(owner: User) -> None:
    log = OperationLog()
    with api_for(owner, log) as api, api_for(owner) as plain:
        frame = api.runs(f"{owner.entity}/{PROJECT}").to_pandas(progress=False)
        loaded = plain.runs(f"{owner.entity}/{PROJECT}", per_page=LIMIT)
        assert [run.id for run in loaded] == [f"run{i:02d}" for i in range(COUNT)]
        pd.testing.assert_frame_equal(frame, loaded.to_pandas(progress=False))
    assert frame["id"].tolist() == [f"run{i:02d}" for i in range(COUNT)]
    assert frame["config.opt.name"].tolist() == [f"o{i % 3}" for i in range(COUNT)]
    assert frame["summary.nested.a"].tolist() == list(range(COUNT))
    # The first page and a lean listing of every run's cursor are asked for together,
    # each refused once over the limit (1000, 10000) and then asked in pages of 3: the
    # listing in 4 pages (3 + 3 + 3 + 1), the table's first page, and once the listing is
    # in, the 3 remaining pages at once (after runs 2, 5 and 8).
    table = [call for call in log.calls if call[0] == "ListRunsTable"]
    cursors = [call for call in log.calls if call[0] == "ListRunCursors"]
    assert table == [("ListRunsTable", 1000)] + [("ListRunsTable", LIMIT)] * 4
    assert cursors == [("ListRunCursors", 10_000)] + [("ListRunCursors", LIMIT)] * 4
    assert log.calls[-3:] == [("ListRunsTable", LIMIT)] * 3
    assert log.peak >= 2  # the three pages were in flight together


def test_filtered_and_ordered_table(owner: User) -> None:
    with api_for(owner) as api:
        path = f"{owner.entity}/{PROJECT}"
        filters = Tags.contains("odd") & (Config("lr") > 0.2)
        frame = api.runs(path, filters=filters, order="-summary_metrics.loss").to_pandas()
        assert frame["id"].tolist() == ["run03", "run05", "run07", "run09"]
        arrow = api.runs(path, filters=filters, order="-summary_metrics.loss").to_arrow()
        assert arrow.column("id").to_pylist() == ["run03", "run05", "run07", "run09"]


def test_listings_and_histories_fall_back(owner: User) -> None:
    log = OperationLog(throttle=2)
    with api_for(owner, log) as api:
        runs = api.runs(f"{owner.entity}/{PROJECT}", per_page=50)
        assert runs.run_ids() == [f"run{i:02d}" for i in range(COUNT)]
        assert log.calls[:2] == [("ListRunNames", 10_000), ("ListRunNames", LIMIT)]
        ids = [run.id for run in api.runs(f"{owner.entity}/{PROJECT}", per_page=50)]
        assert ids == [f"run{i:02d}" for i in range(COUNT)]
        frame = api.runs(f"{owner.entity}/{PROJECT}").histories(samples=5)
        assert list(frame.columns) == ["run_id"] and len(frame) == 0  # no history logged
    # Each listing learned the limit once: 429s were retried by the transport, not seen.
    counts = Counter(name for name, _ in log.calls)
    assert counts["ListRuns"] == 1 + 4  # 50 refused, then 4 pages of 3 (3, 3, 3, 1)


def test_a_refusal_that_is_not_about_page_size_is_raised(owner: User) -> None:
    with api_for(owner) as api:
        runs = api.runs(f"{owner.entity}/{PROJECT}", filters={"bogus": 1})
        with pytest.raises(runapi.GraphQLError, match="bogus"):
            runs.to_pandas()


def test_batched_histories_split_to_the_page_limit(owner: User) -> None:
    log = OperationLog()
    with api_for(owner) as api, api_for(owner, log) as counted:
        for i in range(5):
            run = new_run(api, owner, project="limited-hist", run_id=f"h{i}")
            log_history(owner, run, [{"_step": s, "loss": float(i * 10 + s)} for s in range(4)])
            finish(owner, run)
        runs = counted.runs(f"{owner.entity}/limited-hist")
        frame = runs.histories(samples=10, keys=["loss"], max_workers=1)
    assert frame["run_id"].tolist() == [f"h{i}" for i in range(5) for _ in range(4)]
    assert frame["loss"].tolist() == [float(i * 10 + s) for i in range(5) for s in range(4)]
    # one chunk of 5 runs refused, then asked as 3 + 2
    assert [c for c in log.calls if c[0] == "ListRunsSampledHistory"] == [
        ("ListRunsSampledHistory", 5),
        ("ListRunsSampledHistory", 3),
        ("ListRunsSampledHistory", 2),
    ]
