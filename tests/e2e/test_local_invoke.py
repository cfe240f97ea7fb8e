"""`make invoke` (python -m local.invoke) as a user runs it: the answer alone on stdout, logs on
stderr, and every mistake one clear line naming the file, field or variable, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "APICALL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "shared"), str(ROOT)])
    return subprocess.run(
        [sys.executable, "-m", "local.invoke", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_answer_is_the_only_thing_on_stdout_and_the_logs_go_to_stderr() -> None:
    done = invoke("push", "events/push_json_record.json", "--log-level", "INFO")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"batchItemFailures": []}
    assert '"message":"push attempt"' in done.stderr


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    return lines[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


def test_an_unset_variable_in_a_connection_file_names_the_file_and_the_variable(
    folder: Path,
) -> None:
    (folder / "crm.json").write_text('{"base_url": "${CRM_URL_NOT_SET}"}')

    done = invoke("request", "events/request_head.json", "--connections", folder)

    line = one_line(done)
    assert done.returncode == 2
    assert "crm.json" in line and "CRM_URL_NOT_SET" in line


def test_a_connection_file_that_is_not_json_names_the_file(folder: Path) -> None:
    (folder / "crm.json").write_text('{"base_url": ')

    done = invoke("request", "events/request_head.json", "--connections", folder)

    assert done.returncode == 2 and "crm.json" in one_line(done)


def test_a_missing_connections_folder_is_named(folder: Path) -> None:
    done = invoke("request", "events/request_head.json", "--connections", folder / "nope")

    assert done.returncode == 2 and "nope" in one_line(done)


def test_a_missing_event_file_is_named() -> None:
    done = invoke("request", "events/no_such_event.json")

    assert done.returncode == 2 and "events/no_such_event.json" in one_line(done)


def test_an_event_file_that_is_not_json_names_the_file_and_where(folder: Path) -> None:
    (folder / "event.json").write_text('{"request": ')

    done = invoke("request", folder / "event.json")

    line = one_line(done)
    assert done.returncode == 2 and "event.json" in line and "line 1" in line


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"id": "evt_1", "target": {"url": "https://x"}, "record": {}}, "Records"),
        ({"source": "aws.events", "detail-type": "Scheduled Event"}, "Records"),
        ({"Records": [{"eventSource": "aws:sqs", "messageId": "m", "receiptHandle": "r"}]}, "body"),
    ],
)
def test_a_push_event_that_is_not_an_sqs_batch_names_the_field(
    folder: Path, event: dict[str, object], field: str
) -> None:
    (folder / "push.json").write_text(json.dumps(event))

    done = invoke("push", folder / "push.json")

    line = one_line(done)
    assert done.returncode == 2 and "push.json" in line and field in line


def test_an_unknown_function_lists_the_known_ones() -> None:
    done = invoke("pusher", "events/push_json_record.json")

    line = one_line(done)
    assert done.returncode == 2 and "PushFunction" in line
