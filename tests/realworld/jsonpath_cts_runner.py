"""Run the RFC 9535 JSONPath Compliance Test Suite through apicall.request.jsonpath; print a
JSON report.

`python jsonpath_cts_runner.py CTS_JSON` with `shared/` on PYTHONPATH. It imports nothing but the
standard library and apicall, so that it can run in an interpreter built from the layer's
requirements alone (tests/realworld/test_jsonpath_cts.py does that). The report is
`{"python", "packages", "passed", "failed": [{"name", "selector", "why"}]}`.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from apicall.core.errors import ConfigError
from apicall.request.jsonpath import compile_path, extract


def _canonical(values: list[Any]) -> str:
    # JSON text, so that 1, 1.0 and true stay distinct (they are equal in Python).
    return json.dumps(values, sort_keys=True, ensure_ascii=False)


def run_case(case: dict[str, Any]) -> str | None:
    """None when apicall gives the suite's answer, else what went wrong."""
    selector = case["selector"]
    if case.get("invalid_selector"):
        try:
            compile_path(selector, field="cts")
        except ConfigError:
            return None
        except Exception as exc:
            return f"refused with an untyped {type(exc).__name__}: {exc}"
        return "an invalid selector was accepted"
    try:
        found = extract(case["document"], selector, field="cts")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    expected = [case["result"]] if "result" in case else case["results"]
    if _canonical(found) in {_canonical(answer) for answer in expected}:
        return None
    return f"gave {_canonical(found)[:300]}, expected {_canonical(expected[0])[:300]}"


def main() -> None:
    suite = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    failed = []
    for case in suite["tests"]:
        why = run_case(case)
        if why is not None:
            failed.append({"name": case["name"], "selector": case["selector"], "why": why})
    packages = {name: _version(name) for name in ("python-jsonpath", "regex", "iregexp-check")}
    report = {
        "python": sys.version.split()[0],
        "packages": packages,
        "passed": len(suite["tests"]) - len(failed),
        "failed": failed,
    }
    print(json.dumps(report, indent=1))


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
