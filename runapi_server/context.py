"""The context every resolver gets: the server state, the caller, the public base URL and
the request's response budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo

from runapi_server.auth import AuthUser
from runapi_server.limits import ResponseBudget
from runapi_server.state import ServerState


@dataclass(frozen=True)
class Context:
    state: ServerState
    user: AuthUser
    base_url: str  # absolute, no trailing slash: prefix of every URL the server hands out
    budget: ResponseBudget  # what this request may still return (max_response_bytes)


def context_of(info: GraphQLResolveInfo) -> Context:
    ctx: Any = info.context
    assert isinstance(ctx, Context)
    return ctx
