"""A virtualenv holding what a function sees in Lambda: shared/requirements.txt and nothing else.

The development venv has more than the layer ships (cfn-lint brings `regex`, for instance), so a
test run there can pass where Lambda fails. This venv is built from shared/requirements.txt with
`pip install --no-deps`, as shared/Makefile builds the layer, plus the packages the python3.12
runtime provides (boto3 and its dependencies, at constraints.txt's pins). Nothing of the repository
is installed: put `shared/` on PYTHONPATH to run the layer's code in it.

It is built once per content of those files, in `.corpora/layer-venv-<hash>/` (ignored by git).
`make layer-env` (a step of `make test`) builds it; `python -m tests.support.layer_env` does the
same and prints its interpreter.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = ROOT / "shared" / "requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"
CACHE = ROOT / ".corpora"
# What the python3.12 Lambda runtime provides (boto3 and its dependencies): never in the layer.
RUNTIME_PROVIDED = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)")


def normalize(name: str) -> str:
    """PEP 503 name: `PyYAML` and `pyyaml`, `typing_extensions` and `typing-extensions` match."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """{normalized name: version} of every `name==version` line of a requirements file."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            found[normalize(match[1])] = match[3]
    return found


def runtime_pins() -> list[str]:
    """`name==version` of each runtime-provided package, as constraints.txt pins it."""
    constrained = pins(CONSTRAINTS)
    return [f"{name}=={constrained[normalize(name)]}" for name in RUNTIME_PROVIDED]


def layer_python() -> Path:
    """The interpreter of the layer venv, building the venv first if needed."""
    key = hashlib.sha256()
    key.update(sys.version.encode())
    key.update(LAYER_REQUIREMENTS.read_bytes())
    key.update("\n".join(runtime_pins()).encode())
    venv = CACHE / f"layer-venv-{key.hexdigest()[:12]}"
    python = venv / "bin" / "python"
    if not python.exists():
        _build(venv)
    return python


def _build(venv: Path) -> None:
    CACHE.mkdir(exist_ok=True)
    print(f"building the layer venv {venv.name} ...", file=sys.stderr, flush=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{venv.name}.", dir=CACHE))
    try:
        # Made from a venv, a venv is based on the base interpreter: it sees no dev package.
        subprocess.run([sys.executable, "-m", "venv", str(scratch)], check=True)
        pip = [str(scratch / "bin" / "python"), "-m", "pip"]
        quiet = ["--quiet", "--disable-pip-version-check"]
        subprocess.run(
            [
                *(*pip, "install", *quiet, "--no-deps", "--only-binary=:all:"),
                *("-r", str(LAYER_REQUIREMENTS), *runtime_pins()),
            ],
            check=True,
            env={**os.environ, "PIP_NO_INPUT": "1"},
        )
        # Every dependency of every package is in the venv: the list is complete.
        subprocess.run([*pip, "check"], check=True)
        try:
            scratch.rename(venv)  # the venv runs through bin/python, which survives a rename
        except OSError:
            if not (venv / "bin" / "python").exists():  # not another process that won the race
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    print(layer_python())
