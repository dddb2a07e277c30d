"""Timestamps as W&B writes them: ISO 8601, UTC, no zone suffix."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
