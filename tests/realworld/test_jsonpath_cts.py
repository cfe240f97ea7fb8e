"""apicall's JSONPath gives RFC 9535's answers, run against the JSONPath Compliance Test Suite.

The suite runs through apicall.request.jsonpath's own compile_path/extract, twice: in the layer
venv (the packages of shared/requirements.txt alone, as Lambda has them:
tests/support/layer_env.py) and in this process. Every case with `invalid_selector` must be
refused with a ConfigError; every other must give `result`, or one of `results` where the order of
an object's members is open.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.realworld import jsonpath_cts_runner
from tests.realworld.corpora import corpus_dir
from tests.support.layer_env import ROOT, layer_python

# Cases python-jsonpath is known to get wrong, by CTS name, with the reason and the version seen.
# None today: python-jsonpath 2.2.2 with regex and iregexp-check passes all 687 cases of
# jsonpath-rfc9535 1.3.0's suite.
EXPECTED_FAILURES: dict[str, str] = {}

RUNNER = Path(jsonpath_cts_runner.__file__)


@pytest.fixture(scope="module")
def cts() -> Path:
    return corpus_dir("jsonpath-cts") / "src/__tests__/jsonpath-compliance-test-suite/cts.json"


def _run_in_layer_env(suite: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(layer_python()), str(RUNNER), str(suite)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "shared"), "POWERTOOLS_TRACE_DISABLED": "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _unexpected(failed: list[dict[str, str]]) -> list[dict[str, str]]:
    return [case for case in failed if case["name"] not in EXPECTED_FAILURES]


def test_layer_env_gives_the_compliance_suites_answers(cts: Path) -> None:
    report = _run_in_layer_env(cts)
    total = len(json.loads(cts.read_text(encoding="utf-8"))["tests"])
    failed_names = {case["name"] for case in report["failed"]}

    print(f"JSONPath CTS in the layer env: {report['passed']}/{total} passed, {report['packages']}")
    assert report["packages"]["regex"] is not None, "the layer must ship `regex` for match/search"
    assert _unexpected(report["failed"]) == []
    assert failed_names >= set(EXPECTED_FAILURES), "an expected failure passes now: drop it"
    assert report["passed"] == total - len(EXPECTED_FAILURES)


def test_dev_env_gives_the_same_answers_as_the_layer_env(cts: Path) -> None:
    cases = json.loads(cts.read_text(encoding="utf-8"))["tests"]
    failed = [case["name"] for case in cases if jsonpath_cts_runner.run_case(case) is not None]

    assert sorted(failed) == sorted(EXPECTED_FAILURES)


def test_layer_env_matches_unicode_classes_and_refuses_non_i_regexp_patterns(
    tmp_path: Path,
) -> None:
    # GIVEN patterns RFC 9535 answers only with a Unicode-aware I-Regexp engine (RFC 9485)
    document = ["Ж", "ж", "aa", "ab"]
    cases = [
        ("$[?match(@, '\\\\p{Lu}')]", ["Ж"]),
        ("$[?search(@, '\\\\p{Ll}')]", ["ж", "aa", "ab"]),
        ("$[?match(@, '(?=a)a.')]", []),  # a lookahead is not I-Regexp: no match
        ("$[?match(@, '(a)\\\\1')]", []),  # nor is a back-reference
    ]
    suite = tmp_path / "suite.json"
    suite.write_text(
        json.dumps(
            {
                "tests": [
                    {"name": selector, "selector": selector, "document": document, "result": r}
                    for selector, r in cases
                ]
            }
        ),
        encoding="utf-8",
    )

    # WHEN they run with the layer's packages only
    report = _run_in_layer_env(suite)

    # THEN each gives the standard's answer
    assert report["failed"] == []
    assert report["passed"] == len(cases)
