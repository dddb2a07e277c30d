"""The one exception tree of runapi.

```
RunapiError                      root: catch this to catch everything runapi raises
├── APIStatusError               the server answered with an HTTP error status
│   ├── BadRequestError          400
│   ├── AuthenticationError      401 (missing or wrong API key)
│   ├── PermissionDeniedError    403
│   ├── NotFoundError            404, and GraphQL `null` for a project/run/artifact/file
│   │   ├── ProjectNotFoundError
│   │   ├── RunNotFoundError
│   │   ├── ArtifactNotFoundError
│   │   ├── ArtifactFileNotFoundError
│   │   └── RunFileNotFoundError
│   ├── ConflictError            409
│   ├── RateLimitError           429
│   └── ServerError              5xx
├── APIConnectionError           the request did not get an HTTP answer
│   └── APITimeoutError          ... because a timeout passed
├── GraphQLError                 HTTP 200 with GraphQL `errors` (keeps errors, data, extensions)
├── ResponseValidationError      the answer does not have the expected shape
│   └── PaginationError          a page repeats the cursor it was asked after (no progress)
├── DownloadIntegrityError       a download's size or MD5 is not what the server reported
│   └── ArtifactChecksumError    ... of an artifact file, against its manifest entry
├── ConfigurationError           no API key / unusable base URL (also a ValueError)
│   └── MissingAPIKeyError       no API key in the argument, WANDB_API_KEY or ~/.netrc
├── InvalidPathError             a malformed run, project or artifact path (also a ValueError)
├── MissingDependencyError       an optional extra is not installed (also an ImportError)
└── WaitTimeoutError             `Run.wait_until_finished(timeout=...)` ran out of time
```

`status_error(status_code, message, response)` is the one place mapping a status to a class.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ArtifactChecksumError",
    "ArtifactFileNotFoundError",
    "ArtifactNotFoundError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "DownloadIntegrityError",
    "GraphQLError",
    "InvalidPathError",
    "MissingAPIKeyError",
    "MissingDependencyError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "ProjectNotFoundError",
    "RateLimitError",
    "ResponseValidationError",
    "RunFileNotFoundError",
    "RunNotFoundError",
    "RunapiError",
    "ServerError",
    "WaitTimeoutError",
    "status_error",
]


class RunapiError(Exception):
    """Root of every error runapi raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIStatusError(RunapiError):
    """The server answered with an HTTP error status.

    `status_code` is the HTTP status; `response` the `httpx.Response`, or None when the
    error stands for a GraphQL `null` (a missing run reads as `NotFoundError` too).
    """

    def __init__(
        self, message: str, *, status_code: int, response: httpx.Response | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = response


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404, or a GraphQL `null` where an object was asked for."""

    def __init__(
        self, message: str, *, status_code: int = 404, response: httpx.Response | None = None
    ) -> None:
        super().__init__(message, status_code=status_code, response=response)


class ProjectNotFoundError(NotFoundError):
    """The project does not exist (or belongs to an entity the key cannot read)."""


class RunNotFoundError(NotFoundError):
    """The run does not exist (or belongs to an entity the key cannot read)."""


class ArtifactNotFoundError(NotFoundError):
    """The artifact version does not exist."""


class ArtifactFileNotFoundError(NotFoundError):
    """The artifact version has no file of that name."""


class RunFileNotFoundError(NotFoundError):
    """The run has no file of that name."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class RateLimitError(APIStatusError):
    """HTTP 429, after the retries ran out."""


class ServerError(APIStatusError):
    """HTTP 5xx, after the retries ran out."""


class APIConnectionError(RunapiError):
    """No HTTP answer: connection refused, reset, DNS failure, ..."""


class APITimeoutError(APIConnectionError):
    """No HTTP answer within the timeout."""


class GraphQLError(RunapiError):
    """The server answered HTTP 200 with GraphQL `errors`; never retried.

    - `errors`: the error objects as sent (`message`, `path`, `locations`, `extensions`).
    - `data`: the partial `data`, if any.
    - `extensions`: the `extensions` of the first error that has some, else None.
    """

    def __init__(
        self,
        message: str,
        *,
        errors: list[dict[str, Any]],
        data: dict[str, Any] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.errors = errors
        self.data = data
        self.extensions = extensions


class ResponseValidationError(RunapiError):
    """The server's answer is not JSON or lacks fields the client needs."""


class PaginationError(ResponseValidationError):
    """A page says there is a next page but its cursor does not advance.

    Following it would fetch the same page forever, so iteration stops with this error.
    """


class DownloadIntegrityError(RunapiError):
    """A downloaded file's size or MD5 differs from what the server reported for it (a
    truncated or altered transfer). Nothing is left at the download's target."""

    def __init__(self, message: str, *, name: str, expected: str, received: str) -> None:
        super().__init__(message)
        self.name = name
        self.expected = expected
        self.received = received


class ArtifactChecksumError(DownloadIntegrityError):
    """A downloaded artifact file does not match its manifest entry; nothing was written.

    - `name`: the file's path inside the artifact.
    - `expected_digest` / `actual_digest`: base64 MD5 from the manifest / of the bytes.
    - `expected_size` / `actual_size`: bytes.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str,
        expected_digest: str,
        actual_digest: str,
        expected_size: int,
        actual_size: int,
    ) -> None:
        super().__init__(
            message,
            name=name,
            expected=f"{expected_size} bytes, MD5 {expected_digest}",
            received=f"{actual_size} bytes, MD5 {actual_digest}",
        )
        self.expected_digest = expected_digest
        self.actual_digest = actual_digest
        self.expected_size = expected_size
        self.actual_size = actual_size


class ConfigurationError(RunapiError, ValueError):
    """The settings are unusable: no API key found, or a malformed base URL."""


class MissingAPIKeyError(ConfigurationError):
    """No API key was given or found; `host` is the server whose ~/.netrc entry was tried."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


class InvalidPathError(RunapiError, ValueError):
    """A run, project or artifact path is malformed; the message lists the accepted forms."""


class MissingDependencyError(RunapiError, ImportError):
    """An optional dependency is missing; the message says which extra to install."""


class WaitTimeoutError(RunapiError, TimeoutError):
    """`Run.wait_until_finished` did not see a terminal state within its timeout."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def status_error(
    status_code: int, message: str, response: httpx.Response | None = None
) -> APIStatusError:
    """The exception for an HTTP error status (the one status -> class mapping).

    ```python
    >>> type(status_error(401, "bad key")).__name__
    'AuthenticationError'
    >>> type(status_error(503, "down")).__name__
    'ServerError'
    ```
    """
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else APIStatusError
    return cls(message, status_code=status_code, response=response)
