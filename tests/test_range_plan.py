"""`_ranges.RangePlan` on its own: ranges handed out in order, once; the MD5 that follows
ranges written out of order by several threads is the file's; a stop ends both."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from runapi import _ranges
from runapi._ranges import RangePlan, presize, range_bounds


def test_range_bounds_cover_the_total_in_order() -> None:
    assert range_bounds(10, 4) == [(0, 3), (4, 7), (8, 9)]
    assert range_bounds(8, 4) == [(0, 3), (4, 7)]
    assert range_bounds(1, 4) == [(0, 0)]


def test_ranges_are_taken_in_order_once_and_none_after_a_stop() -> None:
    plan = RangePlan(range_bounds(10, 2))
    assert [plan.take(), plan.take()] == [0, 1]
    assert plan.untaken == 3
    plan.stop()
    assert plan.take() is None and plan.untaken == 0 and plan.stopped


def write_ranges(plan: RangePlan, fd: int, data: bytes, piece: int) -> None:
    """A stream: take ranges and write each in `piece`-byte writes, reporting each."""
    while (index := plan.take()) is not None:
        start, end = plan.bounds[index]
        for at in range(start, end + 1, piece):
            chunk = data[at : min(at + piece, end + 1)]
            os.pwrite(fd, chunk, at)
            plan.advance(index, at + len(chunk))
        plan.finish(index)


@pytest.mark.parametrize("presized", [True, False])  # False: too short to map, preadv
@pytest.mark.parametrize("streams", [1, 3])
def test_the_hash_follows_ranges_written_by_several_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streams: int, presized: bool
) -> None:
    monkeypatch.setattr(_ranges, "HASH_READ_BYTES", 1000)  # several reads per range
    data = os.urandom(100_003)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    if presized:
        presize(fd, len(data))
    asked: list[int] = []
    threads: list[threading.Thread] = []

    def more() -> None:
        asked.append(len(threads))
        if len(threads) < streams:
            threads.append(threading.Thread(target=write_ranges, args=(plan, fd, data, 777)))
            threads[-1].start()

    monkeypatch.setattr(_ranges, "WAIT_FOR_STREAM_S", 0.0)
    plan = RangePlan(range_bounds(len(data), 10_000), more_streams=more)
    more()
    hasher = hashlib.md5()
    try:
        plan.hash_in_order(fd, hasher)
    finally:
        for thread in threads:
            thread.join()
        os.close(fd)
    assert hasher.hexdigest() == hashlib.md5(data).hexdigest()
    assert len(threads) == streams and len(asked) > 1


def test_a_short_range_is_hashed_as_received_and_a_stop_ends_the_hash(tmp_path: Path) -> None:
    data = os.urandom(30)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        plan = RangePlan(range_bounds(30, 10))
        os.pwrite(fd, data, 0)
        plan.advance(0, 10)
        plan.finish(0)
        plan.advance(1, 15)  # range 1 ended 5 bytes short
        plan.finish(1)
        plan.advance(2, 30)
        plan.finish(2)
        hasher = hashlib.md5()
        plan.hash_in_order(fd, hasher)
        assert hasher.digest() == hashlib.md5(data[:15] + data[20:]).digest()

        stopped = RangePlan(range_bounds(30, 10))
        stopped.advance(0, 10)  # range 1 never comes: only the stop ends the wait
        threading.Timer(0.05, stopped.stop).start()
        hasher = hashlib.md5()
        stopped.hash_in_order(fd, hasher)
        assert hasher.digest() == hashlib.md5(data[:10]).digest()
    finally:
        os.close(fd)
