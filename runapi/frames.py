"""Building blocks of runapi's tables, for programs that write rows their own way (the
`runapi` command's CSV, JSON lines and parquet output).

- `ColumnBuilder`: rows (dicts) in, columns out; the union of keys in the order seen.
- `rows_to_arrow(pages)`: pages of rows as one `pyarrow.Table` (mixed-type columns become
  JSON text; NaN and infinities kept).
- `run_record(run)`: a run as one flat row (`id`, `name`, ..., `config.*`, `summary.*`).
- `require(module, extra)`: import an optional dependency, else `MissingDependencyError`
  naming the extra to install.

```python
from runapi.frames import ColumnBuilder

builder = ColumnBuilder()
builder.add(run.history(pandas=False))
columns = builder.columns()   # {"_step": [...], "loss": [...]}
```
"""

from __future__ import annotations

from ._extras import require
from ._frames import rows_to_arrow, run_record
from ._json import ColumnBuilder

__all__ = ["ColumnBuilder", "require", "rows_to_arrow", "run_record"]
