"""runapi: a typed client for the Weights & Biases run API.

```python
import runapi

api = runapi.Api()  # WANDB_API_KEY / WANDB_BASE_URL, or arguments
run = api.run("alice/mnist/1a2b3c4d")
df = run.history(keys=["loss"])
```
"""

from ._api import Api, Viewer
from ._artifact_files import ArtifactFile
from ._artifacts import Artifact, ArtifactSpec
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ArtifactChecksumError,
    ArtifactFileNotFoundError,
    ArtifactNotFoundError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    DownloadIntegrityError,
    GraphQLError,
    InvalidPathError,
    MissingAPIKeyError,
    MissingDependencyError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    ProjectNotFoundError,
    RateLimitError,
    ResponseValidationError,
    RunapiError,
    RunFileNotFoundError,
    RunNotFoundError,
    ServerError,
    WaitTimeoutError,
)
from ._files import File
from ._history import HistoryScan
from ._manifest import ArtifactManifest, ManifestEntry
from ._pagination import Paginator
from ._run import Run
from ._run_frames import history_frames
from ._runs import Runs
from ._transport import RetryTransport
from .filters import (
    Config,
    CreatedAt,
    DisplayName,
    Filter,
    Group,
    JobType,
    Name,
    RunState,
    State,
    Summary,
    Tags,
    and_,
    not_,
    or_,
)

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Api",
    "Artifact",
    "ArtifactChecksumError",
    "ArtifactFile",
    "ArtifactFileNotFoundError",
    "ArtifactManifest",
    "ArtifactNotFoundError",
    "ArtifactSpec",
    "AuthenticationError",
    "BadRequestError",
    "Config",
    "ConfigurationError",
    "ConflictError",
    "CreatedAt",
    "DisplayName",
    "DownloadIntegrityError",
    "File",
    "Filter",
    "GraphQLError",
    "Group",
    "HistoryScan",
    "InvalidPathError",
    "JobType",
    "ManifestEntry",
    "MissingAPIKeyError",
    "MissingDependencyError",
    "Name",
    "NotFoundError",
    "PaginationError",
    "Paginator",
    "PermissionDeniedError",
    "ProjectNotFoundError",
    "RateLimitError",
    "ResponseValidationError",
    "RetryTransport",
    "Run",
    "RunFileNotFoundError",
    "RunNotFoundError",
    "RunState",
    "RunapiError",
    "Runs",
    "ServerError",
    "State",
    "Summary",
    "Tags",
    "Viewer",
    "WaitTimeoutError",
    "and_",
    "history_frames",
    "not_",
    "or_",
]
