"""The layer `sam build` makes ships shared/requirements.txt as pinned, and not the runtime's SDK.

`sam build ApicallLayer` runs from .venv-sam (`make sam-install`, a step of `make test`); it runs
shared/Makefile, which needs no Docker and no local python3.12. SAM's own cache (in
.aws-sam/layer-test/) skips the build when shared/ has not changed.
"""

from __future__ import annotations

import ast
import email.parser
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from local import infra
from tests.support.layer_env import (
    CONSTRAINTS,
    LAYER_REQUIREMENTS,
    ROOT,
    RUNTIME_PROVIDED,
    layer_python,
    normalize,
    pins,
)

SAM = ROOT / ".venv-sam" / "bin" / "sam"
LAYER_ID = "ApicallLayer"
# Unzipped; Lambda allows 250 MB for a function and all its layers. The layer is 40.6 MB without
# botocore (which alone was 20.9 MB): a budget that the runtime's SDK creeping back in breaks.
LAYER_BUDGET_MB = 50
# Import names of the runtime-provided distributions.
RUNTIME_IMPORT_NAMES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
_AARCH64 = 0xB7  # ELF e_machine


@pytest.fixture(scope="module")
def layer() -> Path:
    """The `python/` folder of the layer as `sam build` builds it."""
    if not SAM.exists():
        pytest.fail("the SAM CLI is not installed: run `make sam-install`")
    work = ROOT / ".aws-sam" / "layer-test"
    done = subprocess.run(
        [
            *(str(SAM), "build", LAYER_ID, "--template-file", str(ROOT / "template.yaml")),
            *("--build-dir", str(work / "build"), "--cached", "--cache-dir", str(work / "cache")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "SAM_CLI_TELEMETRY": "0",
            "LAYER_BUILD_PYTHON": str(SAM.parent / "python"),
        },
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return work / "build" / LAYER_ID / "python"


def _shipped(layer: Path) -> dict[str, str]:
    """{normalized name: version} of every distribution installed in the layer."""
    found = {}
    for info in layer.glob("*.dist-info"):
        metadata = email.parser.HeaderParser().parse((info / "METADATA").open(encoding="utf-8"))
        found[normalize(metadata["Name"])] = metadata["Version"]
    return found


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def _zipped_mb(folder: Path, into: Path) -> float:
    with zipfile.ZipFile(into, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder.parent).as_posix())
    return into.stat().st_size / 1e6


# --- The list itself (no build) ------------------------------------------------------------------


def test_every_layer_requirement_is_pinned_exactly() -> None:
    lines = [
        line.split("#")[0].strip()
        for line in LAYER_REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    ]
    requirements = [line for line in lines if line]

    assert requirements
    assert [
        r for r in requirements if not re.fullmatch(r"[\w.-]+(\[[\w,-]+\])?==[\w.+-]+", r)
    ] == []


def test_layer_pins_are_the_dev_environments_pins() -> None:
    constrained = pins(CONSTRAINTS)

    assert {
        name: (version, constrained.get(name))
        for name, version in pins(LAYER_REQUIREMENTS).items()
        if constrained.get(name) != version
    } == {}


def test_layer_requirements_leave_boto3_and_its_dependencies_to_the_runtime() -> None:
    assert set(pins(LAYER_REQUIREMENTS)) & {normalize(n) for n in RUNTIME_PROVIDED} == set()


def test_layer_is_built_for_the_functions_runtime_and_architecture() -> None:
    template = infra.load_template()
    function = template["Globals"]["Function"]
    resource = template["Resources"][LAYER_ID]
    makefile = (ROOT / "shared" / "Makefile").read_text(encoding="utf-8")

    assert resource["Metadata"]["BuildMethod"] == "makefile"
    assert f"build-{LAYER_ID}:" in makefile
    assert resource["Properties"]["CompatibleRuntimes"] == [function["Runtime"]]
    assert resource["Properties"]["CompatibleArchitectures"] == function["Architectures"]
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    assert "LAYER_PYTHON_VERSION := 3.12" in makefile
    assert "LAYER_ABI := cp312" in makefile
    assert "_aarch64" in makefile


# --- The layer venv: shared/requirements.txt alone (tests/support/layer_env.py) ------------------


def _third_party_imports() -> set[str]:
    """Top-level names apicall imports anywhere (lazy imports included), stdlib excluded."""
    names: set[str] = set()
    for module in (ROOT / "shared" / "apicall").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"apicall", "__future__"}


def test_layer_env_imports_everything_apicall_imports() -> None:
    script = (
        "import importlib, pkgutil, sys, apicall\n"
        "for name in sys.argv[1:]: importlib.import_module(name)\n"
        "modules = [m.name for m in pkgutil.walk_packages(apicall.__path__, 'apicall.')]\n"
        "for name in modules: importlib.import_module(name)\n"
        "print(len(modules))\n"
    )
    imports = sorted(_third_party_imports())
    done = subprocess.run(
        [str(layer_python()), "-c", script, *imports],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "shared"), "POWERTOOLS_TRACE_DISABLED": "1"},
        timeout=120,
    )

    assert "jsonpath" in imports and "httpx" in imports
    assert done.returncode == 0, done.stderr[-2000:]
    modules = [p for p in (ROOT / "shared" / "apicall").rglob("*.py") if p.name != "__init__.py"]
    assert int(done.stdout.split()[-1]) >= len(modules)  # every module, in every package


# --- The layer as `sam build` builds it ---------------------------------------------------------


@pytest.mark.slow
def test_built_layer_ships_exactly_the_pinned_packages(layer: Path) -> None:
    assert _shipped(layer) == pins(LAYER_REQUIREMENTS)


@pytest.mark.slow
def test_built_layer_leaves_boto3_and_botocore_to_the_runtime(layer: Path) -> None:
    top_level = {path.name.removesuffix(".py") for path in layer.iterdir()}

    assert top_level & set(RUNTIME_IMPORT_NAMES) == set()
    assert set(_shipped(layer)) & {normalize(n) for n in RUNTIME_PROVIDED} == set()


@pytest.mark.slow
def test_built_layer_holds_the_apicall_package_without_bytecode(layer: Path) -> None:
    source = ROOT / "shared" / "apicall"
    expected = {p.relative_to(source) for p in source.rglob("*.py")}
    shipped = {p.relative_to(layer / "apicall") for p in (layer / "apicall").rglob("*")}

    assert {p for p in shipped if p.suffix == ".py"} == expected
    assert [p for p in shipped if "__pycache__" in p.parts or p.suffix == ".pyc"] == []


@pytest.mark.slow
def test_built_layer_native_code_is_for_cpython_312_on_arm64(layer: Path) -> None:
    libraries = [p for p in layer.rglob("*.so*") if p.is_file()]
    wrong_machine = [
        p.name for p in libraries if int.from_bytes(p.read_bytes()[18:20], "little") != _AARCH64
    ]
    wrong_python = [
        p.name for p in libraries if ".cpython-" in p.name and ".cpython-312-" not in p.name
    ]

    assert libraries
    assert wrong_machine == []
    assert wrong_python == []


@pytest.mark.slow
def test_built_layer_stays_within_its_size_budget(layer: Path, tmp_path: Path) -> None:
    unzipped = _size_mb(layer)
    zipped = _zipped_mb(layer, tmp_path / "layer.zip")
    largest: list[Any] = sorted(
        ((round(_size_mb(p), 1), p.name) for p in layer.iterdir() if p.is_dir()), reverse=True
    )[:5]
    print(json.dumps({"unzipped_mb": round(unzipped, 1), "zipped_mb": round(zipped, 1)}), largest)

    assert unzipped < LAYER_BUDGET_MB
