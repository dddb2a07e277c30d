"""Regenerate ``generated/`` from ``schema.graphql`` and ``queries/`` with ariadne-codegen.

    python scripts/codegen.py          # empty generated/ and regenerate it
    python scripts/codegen.py --check  # exit 1, naming the files, if generated/ is stale

The configuration lives in ``[tool.ariadne-codegen]`` of pyproject.toml.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path("generated")
INPUTS = ["schema.graphql", "queries", "pyproject.toml"]


def _codegen_command() -> list[str]:
    exe = Path(sys.executable).with_name("ariadne-codegen")
    if exe.exists():
        return [str(exe), "client"]
    found = shutil.which("ariadne-codegen")
    if found is None:
        sys.exit("ariadne-codegen is not installed: pip install -e '.[dev]'")
    return [found, "client"]


def generate(root: Path) -> None:
    """Empty ``root/generated`` and regenerate it from the inputs under ``root``."""
    target = root / TARGET
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    result = subprocess.run(
        _codegen_command(), cwd=root, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        sys.exit(f"ariadne-codegen failed with exit code {result.returncode}")
    for package in target.iterdir():
        if package.is_dir():
            (package / "py.typed").write_text("")
            for cache in package.rglob("__pycache__"):
                shutil.rmtree(cache)


def _tree(base: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(base)): p
        for p in sorted(base.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def check() -> int:
    """Generate into a scratch copy and compare with the committed ``generated/``."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch_root = Path(scratch)
        for name in INPUTS:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, scratch_root / name)
            else:
                (scratch_root / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, scratch_root / name)
        generate(scratch_root)
        fresh = _tree(scratch_root / TARGET)
        current = _tree(ROOT / TARGET) if (ROOT / TARGET).exists() else {}
        stale = sorted(
            name
            for name in fresh.keys() | current.keys()
            if name not in fresh
            or name not in current
            or not filecmp.cmp(fresh[name], current[name], shallow=False)
        )
    if stale:
        print("generated/ is out of date; run `python scripts/codegen.py`. Differing files:")
        for name in stale:
            print(f"  generated/{name}")
        return 1
    print("generated/ is up to date")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated/ is stale")
    args = parser.parse_args()
    if args.check:
        return check()
    generate(ROOT)
    print(f"regenerated {TARGET}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
