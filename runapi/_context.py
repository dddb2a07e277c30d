"""What every facade object shares with its `Api`: settings, HTTP client, GraphQL client."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ._config import Settings
from ._graphql import GraphQL


@dataclass(frozen=True)
class Context:
    """The `Api`'s settings and clients, passed to the objects it creates."""

    settings: Settings
    http: httpx.Client
    gql: GraphQL
