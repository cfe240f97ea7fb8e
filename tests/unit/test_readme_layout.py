"""The README's Layout section draws the layer as it is: every module listed, nothing extra."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "shared" / "apicall"


def layout_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def listed_modules() -> set[str]:
    """package/module.py paths the Layout tree lists under shared/apicall/."""
    listed, package = set(), None
    for line in layout_block().splitlines():
        if found := re.match(r"^  ([a-z_]+)/\s", line):
            package = found.group(1)
        elif (found := re.match(r"^    ([a-z_]+\.py)\s", line)) and package:
            listed.add(f"{package}/{found.group(1)}")
        elif re.match(r"^\S", line):
            package = None
    return listed


def test_the_layout_lists_every_module_of_the_layer_and_no_other() -> None:
    modules = {
        path.relative_to(LAYER).as_posix()
        for path in LAYER.glob("*/*.py")
        if path.name != "__init__.py"
    }

    assert listed_modules() == modules
    assert not [path.name for path in LAYER.glob("*.py") if path.name != "__init__.py"]


def test_the_layout_lists_every_handler() -> None:
    block = layout_block()
    handlers = {p.relative_to(ROOT / "functions").as_posix() for p in ROOT.glob("functions/*/*.py")}

    assert handlers and all(f"  {handler}" in block for handler in handlers)


def test_package_init_files_stay_empty() -> None:
    # Cold start is measured: nothing may be imported just because a package is.
    def runs_code(path: Path) -> bool:
        body = ast.parse(path.read_text()).body
        docstring = body[:1] if body and isinstance(body[0], ast.Expr) else []
        return body != docstring

    assert [path for path in LAYER.rglob("__init__.py") if runs_code(path)] == []
