"""How runapi finds its settings, for programs that need them without an `Api` (the
`runapi schema check` command introspects a server with them).

Each setting comes from the argument, else the environment (`WANDB_API_KEY`,
`WANDB_BASE_URL`, `WANDB_APP_URL`), else a default (the key: `~/.netrc`); no network I/O.

```python
from runapi.config import resolve_settings

settings = resolve_settings(None, None)   # MissingAPIKeyError when no key is found
settings.base_url, settings.app_url
```
"""

from __future__ import annotations

from ._config import Settings, resolve_settings

__all__ = ["Settings", "resolve_settings"]
