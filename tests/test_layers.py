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

if not (ROOT / "runapi_server" / "storage").is_dir():  # a copy of tests/ without the sources
    pytest.skip(
        "checks the source tree, which is not beside these tests (the installed-package run)",
        allow_module_level=True,
    )


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


SQL_FREE_MODULES = tuple(
    sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "runapi_server").rglob("*.py")
        if "storage" not in path.relative_to(ROOT / "runapi_server").parts
    )
)
"""Every server module outside `runapi_server/storage/`: the storage layer holds all SQL."""


def _database_calls(path: str) -> list[str]:
    """`.execute(` / `.executemany(` calls and sqlite3/psycopg imports in one module."""
    tree = ast.parse((ROOT / path).read_text(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("execute", "executemany"):
                found.append(f"{path}:{node.lineno}: .{node.func.attr}(")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            found += [
                f"{path}:{node.lineno}: import {m}"
                for m in modules
                if m.split(".")[0] in ("sqlite3", "psycopg")
            ]
    return found


@pytest.mark.parametrize("path", SQL_FREE_MODULES)
def test_sql_only_in_the_storage_layer(path: str) -> None:
    assert _database_calls(path) == []


def test_the_sql_rule_sees_database_calls() -> None:
    # The rule must be able to fail: the storage modules themselves execute SQL.
    assert _database_calls("runapi_server/storage/runs.py")
    assert any("import sqlite3" in c for c in _database_calls("runapi_server/storage/sqlite.py"))
