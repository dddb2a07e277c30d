"""What a running server holds: its data dir, database and signing secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from runapi_server.limits import Limits
from runapi_server.storage.database import Database, open_database

SECRET_FILE = "signing.key"


@dataclass(frozen=True)
class ServerState:
    data_dir: Path
    db: Database
    secret: bytes
    public_url: str | None
    limits: Limits = field(default_factory=Limits)

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @classmethod
    def open(
        cls,
        data_dir: Path,
        public_url: str | None = None,
        limits: Limits | None = None,
        database: str | None = None,
    ) -> ServerState:
        """The state on ``data_dir``; ``database``: a PostgreSQL URL, or ``None`` for the
        data dir's own database (see :func:`runapi_server.storage.database.open_database`)."""
        data_dir = data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            data_dir=data_dir,
            db=open_database(database, data_dir),
            secret=_load_secret(data_dir / SECRET_FILE),
            public_url=public_url.rstrip("/") if public_url else None,
            limits=limits or Limits(),
        )


def _load_secret(path: Path) -> bytes:
    """The key that signs upload and download URLs; made once per data dir."""
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(secrets.token_bytes(32))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_bytes()
