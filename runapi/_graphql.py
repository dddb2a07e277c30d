"""Calls generated operations; the one place converting their errors into runapi's tree."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import httpx

from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    GraphQLError,
    ResponseValidationError,
    status_error,
)
from ._http import GraphQLHttp

if TYPE_CHECKING:
    from runapi_generated.client import GraphQLClient

P = ParamSpec("P")
T = TypeVar("T")

_AUTH_HINT = (
    "the server rejected the API key (HTTP 401): check WANDB_API_KEY, the api_key "
    "argument, or ~/.netrc"
)


def http_status_error(response: httpx.Response, what: str) -> APIStatusError:
    """The runapi error for an HTTP error `response` to `what` (e.g. "POST /graphql")."""
    if response.status_code == 401:
        message = _AUTH_HINT
    else:
        try:
            body = response.text
        except (httpx.ResponseNotRead, UnicodeDecodeError):
            body = ""
        snippet = " ".join(body.split())[:300]
        message = f"{what} failed with HTTP {response.status_code}" + (
            f": {snippet}" if snippet else ""
        )
    return status_error(response.status_code, message, response)


def transport_error(exc: httpx.TransportError, what: str) -> APIConnectionError:
    """The runapi error for an httpx transport failure, naming the URL (without its query,
    which may hold a signed URL's secret)."""
    try:
        where = f" to {exc.request.url.copy_with(query=None)}"
    except RuntimeError:  # an exception raised without a request
        where = ""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{what}{where} timed out ({type(exc).__name__}: {exc})")
    return APIConnectionError(f"{what}{where} failed to connect ({type(exc).__name__}: {exc})")


class GraphQL:
    """The generated client bound to an `httpx.Client`, with error conversion."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http
        self._client: GraphQLClient | None = None

    @property
    def client(self) -> GraphQLClient:
        """The generated client (its pydantic models are imported on first use)."""
        if self._client is None:
            from runapi_generated.client import GraphQLClient

            self._client = GraphQLClient(url="graphql", http_client=GraphQLHttp(self._http))
        return self._client

    def call(self, operation: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a generated operation, converting every failure into a `RunapiError`.

        ```python
        project = gql.call(gql.client.get_run, entity="e", project="p", name="r")
        ```
        """
        import pydantic
        from runapi_generated.exceptions import (
            GraphQLClientGraphQLMultiError,
            GraphQLClientHttpError,
            GraphQLClientInvalidResponseError,
        )

        what = f"GraphQL {getattr(operation, '__name__', 'operation')}"
        try:
            return operation(*args, **kwargs)
        except GraphQLClientHttpError as exc:
            response = exc.response
            if isinstance(response, httpx.Response):
                raise http_status_error(response, what) from exc
            message = f"{what} failed with HTTP {exc.status_code}"
            raise status_error(exc.status_code, message) from exc
        except GraphQLClientGraphQLMultiError as exc:
            errors: list[dict[str, Any]] = [
                dict(e.original) if e.original is not None else {"message": e.message}
                for e in exc.errors
            ]
            extensions = next((dict(e.extensions) for e in exc.errors if e.extensions), None)
            raise GraphQLError(
                f"{what}: {exc}", errors=errors, data=exc.data, extensions=extensions
            ) from exc
        except GraphQLClientInvalidResponseError as exc:
            raise ResponseValidationError(f"{what}: the response is not a GraphQL answer") from exc
        except pydantic.ValidationError as exc:
            raise ResponseValidationError(f"{what}: unexpected response shape: {exc}") from exc
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc

    def data(self, query: str, operation_name: str, variables: dict[str, object]) -> dict[str, Any]:
        """The `data` of an operation's answer as plain JSON values, without pydantic.

        For big answers (a history page) whose shape the caller checks itself. The
        request goes through the same transport, and every failure is converted like
        `call` (HTTP errors, GraphQL errors, an answer that is not GraphQL).

        ```python
        from runapi_generated.operations import GET_RUN_HISTORY_GQL
        data = gql.data(GET_RUN_HISTORY_GQL, "GetRunHistory", {"entity": "e", ...})
        ```
        """
        return self.call(self._data, query, operation_name, variables)

    def _data(
        self, query: str, operation_name: str, variables: dict[str, object]
    ) -> dict[str, Any]:
        from runapi_generated.exceptions import (
            GraphQLClientGraphQLMultiError,
            GraphQLClientHttpError,
            GraphQLClientInvalidResponseError,
        )

        from ._json import fast_loads

        response = self.client.execute(
            query=query, operation_name=operation_name, variables=variables
        )
        if not 200 <= response.status_code <= 299:
            raise GraphQLClientHttpError(status_code=response.status_code, response=response)
        try:
            if isinstance(response, httpx.Response):
                body = fast_loads(response.content)
            else:
                body = response.json()
        except (ValueError, RecursionError) as exc:
            raise GraphQLClientInvalidResponseError(response=response) from exc
        if not isinstance(body, dict) or ("data" not in body and "errors" not in body):
            raise GraphQLClientInvalidResponseError(response=response)
        data, errors = body.get("data"), body.get("errors")
        if errors:
            raise GraphQLClientGraphQLMultiError.from_errors_dicts(errors_dicts=errors, data=data)
        if not isinstance(data, dict):
            raise GraphQLClientInvalidResponseError(response=response)
        return data
