"""`runapi schema check`: compare a live server's schema with the one runapi was built from.

It introspects the server (graphql-core's standard introspection query, built at run
time), reports the breaking changes from the shipped `schema.graphql` to the live schema
(`find_breaking_changes`: what the client relies on and the server lacks), lists the
dangerous ones as notes, and validates every operation in the shipped `queries/` against
the live schema. Exit 0 when nothing breaks, 1 otherwise.

`schema.graphql` and `queries/*.graphql` ship as package data of `runapi_cli`
(`runapi_cli/schema_data/`, symlinks to the project's files in a checkout).
graphql-core is needed: `pip install 'runapi[schema]'`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from typing import TYPE_CHECKING, Any

import httpx

from runapi import MissingAPIKeyError
from runapi.config import resolve_settings
from runapi_cli.common import CommandError, no_key_error
from runapi_cli.extras import explain_import_error

if TYPE_CHECKING:
    from graphql import DocumentNode, GraphQLSchema


EXAMPLES = """\
examples:
  runapi schema check                               # the server of WANDB_BASE_URL
  runapi schema check --url http://127.0.0.1:8080 --api-key local-...
"""


def schema_data() -> Traversable:
    """The shipped `schema.graphql` and `queries/` directory."""
    return resources.files("runapi_cli").joinpath("schema_data")


@dataclass
class Report:
    """What `schema check` found."""

    breaking: list[str] = field(default_factory=list)
    dangerous: list[str] = field(default_factory=list)
    invalid: dict[str, list[str]] = field(default_factory=dict)
    operations: int = 0

    @property
    def ok(self) -> bool:
        """No breaking change and every operation valid."""
        return not self.breaking and not self.invalid

    def lines(self, url: str) -> list[str]:
        """The report as text lines."""
        out = [f"schema check of {url}"]
        out.append(f"breaking changes from schema.graphql: {len(self.breaking)}")
        out.extend(f"  BREAKING {line}" for line in self.breaking)
        if self.dangerous:
            out.append(f"dangerous changes (notes): {len(self.dangerous)}")
            out.extend(f"  note {line}" for line in self.dangerous)
        valid = self.operations - len(self.invalid)
        out.append(f"operations valid against the live schema: {valid}/{self.operations}")
        for name, errors in sorted(self.invalid.items()):
            out.extend(f"  INVALID {name}: {error}" for error in errors)
        out.append("OK" if self.ok else "FAILED")
        return out


def _graphql() -> Any:
    try:
        import graphql
    except ImportError as exc:
        raise CommandError(explain_import_error(exc, "schema", "schema check")) from exc
    return graphql


def introspect(url: str, api_key: str, timeout: float = 30.0) -> GraphQLSchema:
    """The live schema of the server at `url` (its `/graphql`)."""
    gql = _graphql()
    query = gql.get_introspection_query(descriptions=False)
    endpoint = url.rstrip("/") + "/graphql"
    try:
        response = httpx.post(
            endpoint, json={"query": query}, auth=("api", api_key), timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise CommandError(f"cannot reach {endpoint}: {exc}") from exc
    if response.status_code == 401:
        raise CommandError(f"{endpoint} refused the API key (HTTP 401)")
    if response.is_error:
        raise CommandError(f"{endpoint} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise CommandError(f"{endpoint} did not answer JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        errors = body.get("errors") if isinstance(body, dict) else None
        raise CommandError(f"introspection failed: {errors or 'no data in the answer'}")
    try:
        schema: GraphQLSchema = gql.build_client_schema(body["data"])
    except (TypeError, ValueError, gql.GraphQLError) as exc:
        raise CommandError(f"the introspection answer is not a usable schema: {exc}") from exc
    return schema


def operation_documents(data: Traversable) -> dict[str, DocumentNode]:
    """Each shipped operation file as a document, with the shared fragments appended."""
    gql = _graphql()
    queries = data.joinpath("queries")
    fragments: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for entry in sorted(queries.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".graphql"):
            continue
        text = entry.read_text(encoding="utf-8")
        if entry.name == "fragments.graphql":
            for definition in gql.parse(text).definitions:
                fragments[definition.name.value] = definition
        else:
            sources[entry.name] = text
    # Every file gets all shared fragments; validation skips NoUnusedFragments for them.
    shared = tuple(fragments.values())
    return {
        name: gql.DocumentNode(definitions=(*gql.parse(text).definitions, *shared))
        for name, text in sources.items()
    }


def check(live: GraphQLSchema, data: Traversable | None = None) -> Report:
    """Compare `live` with the shipped schema and validate the shipped operations."""
    gql = _graphql()
    data = schema_data() if data is None else data
    local = gql.build_schema(data.joinpath("schema.graphql").read_text(encoding="utf-8"))
    report = Report()
    for change in gql.find_breaking_changes(local, live):
        report.breaking.append(f"{change.type.name}: {change.description}")
    for change in gql.find_dangerous_changes(local, live):
        report.dangerous.append(f"{change.type.name}: {change.description}")
    documents = operation_documents(data)
    report.operations = len(documents)
    rules = [rule for rule in gql.specified_rules if rule is not gql.NoUnusedFragmentsRule]
    for name, document in documents.items():
        errors = gql.validate(live, document, rules)
        if errors:
            report.invalid[name] = [error.message for error in errors]
    return report


def cmd_schema_check(args: argparse.Namespace) -> int:
    _graphql()
    try:
        settings = resolve_settings(args.api_key, args.url or args.base_url)
    except MissingAPIKeyError as exc:
        raise no_key_error(exc) from exc
    live = introspect(settings.base_url, settings.api_key)
    report = check(live)
    for line in report.lines(settings.base_url):
        print(line)
    return 0 if report.ok else 1


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parent: argparse.ArgumentParser,
) -> None:
    """Register `schema check` on `commands`."""
    schema = commands.add_parser(
        "schema",
        help="check a server's GraphQL schema against runapi's",
        description="Check a server's GraphQL schema against the one runapi was built from.",
    )
    schema_commands = schema.add_subparsers(dest="schema_command", metavar="COMMAND", required=True)
    check_parser = schema_commands.add_parser(
        "check",
        parents=[parent],
        help="report breaking changes and invalid operations",
        description="Introspect a live server, report the breaking changes between its schema "
        "and schema.graphql, and validate every operation in queries/ against it. Exit 0 when "
        "nothing breaks, 1 otherwise. Needs graphql-core (pip install 'runapi[schema]').",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check_parser.add_argument(
        "--url", metavar="URL", help="server URL (default: --base-url, else $WANDB_BASE_URL)"
    )
    check_parser.set_defaults(handler=cmd_schema_check)
