"""The house's import rules, checked on the source: who may import whom.

- the CLI uses only runapi's public names (no `runapi._private` module);
- the facade never imports the server or the CLI; the server never imports the facade,
  the CLI or the generated client;
- only the facade (and tests) import `runapi_generated`.
"""

from __future__ import annotations

import ast

import pytest
from conftest import ROOT


def _imports(package: str) -> list[tuple[str, str]]:
    """(file, imported module) for every import in `package` (relative ones resolved)."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        here = path.relative_to(ROOT).with_suffix("").parts
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(here[: len(here) - node.level])
                    module = f"{base}.{node.module}" if node.module else base
                else:
                    module = node.module or ""
                found.append((str(path.relative_to(ROOT)), module))
    return found


def test_cli_imports_only_public_runapi_names() -> None:
    private = [
        (f, m)
        for f, m in _imports("runapi_cli")
        if m.startswith("runapi.") and any(part.startswith("_") for part in m.split(".")[1:])
    ]
    assert private == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("runapi", ("runapi_server", "runapi_cli")),
        ("runapi_server", ("runapi", "runapi_cli", "runapi_generated")),
        ("runapi_cli", ("runapi_generated",)),
    ],
)
def test_layers_do_not_reach_across(package: str, forbidden: tuple[str, ...]) -> None:
    crossing = [(f, m) for f, m in _imports(package) if m.split(".")[0] in forbidden]
    assert crossing == []


# The server files whose SQL moved to runapi_server/storage (issue #13, history and
# artifacts half); the rule widens to all of runapi_server once both halves are merged.
STORAGE_CALLERS = [
    "runapi_server/history.py",
    "runapi_server/history_parse.py",
    "runapi_server/history_sampling.py",
    "runapi_server/parquet_export.py",
    "runapi_server/export_worker.py",
    "runapi_server/artifact_store.py",
    "runapi_server/artifact_routes.py",
    "runapi_server/resolvers/history.py",
    "runapi_server/resolvers/artifacts.py",
    "runapi_server/resolvers/artifact_versions.py",
    "runapi_server/resolvers/artifact_writes.py",
    "runapi_server/resolvers/artifact_reads.py",
    "runapi_server/resolvers/artifact_files.py",
]


@pytest.mark.parametrize("name", STORAGE_CALLERS)
def test_sql_lives_in_storage(name: str) -> None:
    """These files call the storage layer's typed functions: no statement of their own
    (no `.execute(` / `.executemany(` call) and no database driver import."""
    path = ROOT / name
    tree = ast.parse(path.read_text(), name)
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("execute", "executemany")
    ]
    drivers = [m for f, m in _imports("runapi_server") if f == name]
    assert calls == []
    assert [m for m in drivers if m.split(".")[0] in ("sqlite3", "psycopg")] == []
