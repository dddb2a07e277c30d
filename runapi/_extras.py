"""Optional dependencies (pyarrow, polars): imported only when asked for.

```python
pa = require("pyarrow", "arrow")   # MissingDependencyError naming the extra when missing
```
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._exceptions import MissingDependencyError


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, else raise `MissingDependencyError` with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is not installed; install it with: pip install 'runapi[{extra}]'"
        ) from exc
