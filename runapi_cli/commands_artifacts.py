"""`runapi artifact download` and `runapi artifact put`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import runapi
from runapi_cli.common import CommandError, make_api, progress_flag

ARTIFACT_EXAMPLES = """\
examples:
  runapi artifact put data/mnist --project mnist --name mnist --type dataset
  runapi artifact download alice/mnist/mnist:latest --root data/mnist
"""

DOWNLOAD_EXAMPLES = """\
examples:
  runapi artifact download alice/mnist/mnist:latest            # into ./artifacts/mnist:vN
  runapi artifact download alice/mnist/mnist:v3 --root data    # resumes an earlier run
"""

PUT_EXAMPLES = """\
examples:
  runapi artifact put data/mnist --project mnist --name mnist --type dataset
  runapi artifact put checkpoints --project mnist --name model --type model --alias best
"""


def cmd_artifact_download(args: argparse.Namespace) -> int:
    with make_api(args) as api:
        artifact = api.artifact(args.artifact_path)
        root = artifact.download(root=args.root, progress=progress_flag(args))
    print(root, flush=True)
    return 0


def cmd_artifact_put(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    if not directory.is_dir():
        raise CommandError(f"no such directory: {str(directory)!r}")
    spec = runapi.ArtifactSpec(name=args.name, type=args.type, description=args.description)
    spec.add_dir(directory)
    if not spec.files:
        raise CommandError(f"directory {str(directory)!r} has no files")
    with make_api(args) as api:
        run = runapi.Run.create(api, project=args.project, entity=args.entity, state="finished")
        artifact = run.log_artifact(spec, aliases=args.alias, progress=progress_flag(args))
    print(artifact.qualified_name, flush=True)
    print(
        f"{artifact.file_count} file(s), {artifact.size} bytes, digest {artifact.digest}, "
        f"aliases {', '.join(artifact.aliases)}",
        file=sys.stderr,
        flush=True,
    )
    return 0


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parent: argparse.ArgumentParser,
) -> None:
    """Register `artifact download` and `artifact put` on `commands`."""
    raw = argparse.RawDescriptionHelpFormatter
    artifact = commands.add_parser(
        "artifact",
        help="upload or download artifact versions",
        description="Upload a directory as a new artifact version, or download one.",
        epilog=ARTIFACT_EXAMPLES,
        formatter_class=raw,
    )
    sub = artifact.add_subparsers(dest="artifact_command", metavar="COMMAND", required=True)

    download = sub.add_parser(
        "download",
        parents=[parent],
        help="download every file of an artifact version",
        description="Download every file of ENTITY/PROJECT/NAME:ALIAS (or :vN) into --root, "
        "several at a time. Each file is checked against the manifest (size and MD5) and "
        "renamed into place only when it matches; files already there and correct are kept, "
        "so a rerun resumes. Prints the root directory.",
        epilog=DOWNLOAD_EXAMPLES,
        formatter_class=raw,
    )
    download.add_argument(
        "artifact_path", metavar="ENTITY/PROJECT/NAME:ALIAS", help="e.g. alice/mnist/mnist:latest"
    )
    download.add_argument(
        "--root",
        type=Path,
        default=None,
        metavar="DIR",
        help="target directory (default: ./artifacts/NAME:vN)",
    )
    download.set_defaults(handler=cmd_artifact_download)

    put = sub.add_parser(
        "put",
        parents=[parent],
        help="log a directory as a new artifact version",
        description="Upload every file under DIR (paths relative to DIR) as a new version of "
        "artifact NAME, from a new run in PROJECT. Only bytes the server does not already "
        "hold are sent; the same contents again give the existing version. Prints "
        "ENTITY/PROJECT/NAME:vN.",
        epilog=PUT_EXAMPLES,
        formatter_class=raw,
    )
    put.add_argument("dir", type=Path, metavar="DIR", help="the directory to upload")
    put.add_argument("--project", required=True, metavar="P", help="project of the new run")
    put.add_argument("--name", required=True, metavar="N", help="artifact name, e.g. mnist")
    put.add_argument(
        "--type", default="dataset", metavar="T", help="artifact type (default: dataset)"
    )
    put.add_argument("--entity", metavar="E", help="entity (default: the key's own)")
    put.add_argument(
        "--alias",
        action="append",
        default=None,
        metavar="A",
        help="an alias besides latest (repeatable)",
    )
    put.add_argument("--description", metavar="TEXT", help="artifact description")
    put.set_defaults(handler=cmd_artifact_put)
