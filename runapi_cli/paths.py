"""Where the local server keeps its data when `--data-dir` is not given."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user data dir: `$XDG_DATA_HOME/runapi`, else `~/.local/share/runapi`.

    ```python
    >>> default_data_dir({"XDG_DATA_HOME": "/srv/data"})
    PosixPath('/srv/data/runapi')
    ```
    """
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "runapi"
