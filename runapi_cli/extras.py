"""Why an optional extra failed to import: not installed, or installed but unsupported.

`runapi serve` needs the `server` extra and `runapi schema check` the `schema` extra.
An `ImportError` from one of their modules has two different causes that need different
advice: the distribution is missing (install the extra), or it is installed at a version
this runapi does not support (the import of a name that moved, say). The second is told
with the installed version and the range runapi's metadata asks for:

```python
try:
    import graphql
except ImportError as exc:
    raise CommandError(explain_import_error(exc, "server"))
```
"""

from __future__ import annotations

import re
from importlib import metadata


def _distribution_of(module: str) -> str | None:
    """The installed distribution providing top-level ``module``, if any."""
    names = metadata.packages_distributions().get(module)
    return names[0] if names else None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def required_range(distribution: str, extra: str) -> str | None:
    """The version range runapi's metadata gives ``distribution`` in ``extra``."""
    try:
        requirements = metadata.requires("runapi") or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)", spec)
        if match is None or _normal(match.group(1)) != _normal(distribution):
            continue
        if extra in marker or not marker.strip():
            return match.group(3).strip() or None
    return None


def explain_import_error(exc: ImportError, extra: str, purpose: str) -> str:
    """One line saying what to do about ``exc`` raised while importing ``extra``'s modules."""
    module = (exc.name or "").split(".")[0]
    install = f"pip install 'runapi[{extra}]'"
    not_there = isinstance(exc, ModuleNotFoundError) and exc.name == module
    distribution = _distribution_of(module) if module and not not_there else None
    if distribution is None:
        missing = f" (missing module {module!r})" if module else f" ({exc})"
        return f"{purpose} needs its extra: {install}{missing}"
    try:
        installed = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return f"{purpose} needs its extra: {install} (missing module {module!r})"
    wanted = required_range(distribution, extra)
    needs = f"; it needs {distribution}{wanted}" if wanted else ""
    return (
        f"installed {distribution} {installed} is not supported by this runapi{needs} "
        f"({install} --upgrade installs a supported set): {exc}"
    )
