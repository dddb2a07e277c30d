"""Placeholder until implemented."""

from ariadne.types import SchemaBindable

BINDABLES: list[SchemaBindable] = []
