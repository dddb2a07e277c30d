"""Placeholder until implemented."""

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
