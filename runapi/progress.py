"""Progress bars as runapi draws them, for programs built on runapi (the `runapi` command
uses them for its own long work).

A bar draws on stderr only when stderr is a terminal, and stays silent with
`enabled=False` or `RUNAPI_PROGRESS=0` in the environment. `Progress.echo` prints a line
without running it into the bar.

```python
from runapi.progress import Progress

with Progress(total=3, unit="files", label="upload") as bar:
    for path in paths:
        upload(path)
        bar.echo(f"uploaded {path}", sys.stdout)
        bar.update(1)
```
"""

from __future__ import annotations

from ._progress import Progress, Unit, progress_enabled, track

__all__ = ["Progress", "Unit", "progress_enabled", "track"]
