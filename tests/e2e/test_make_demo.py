"""`make demo` (python -m local.demo) as a user runs it: it succeeds and leaves nothing behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import in_session, port_open

ROOT = Path(__file__).resolve().parents[2]


def test_make_demo_accounts_for_everything_and_leaves_no_process_or_port() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the demo leads a session: anything it starts stays in it
    )
    try:
        output, _ = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0, output
    assert "problem:" not in output
    fetch_section = output.split("2. Scheduled fetches")[1].split("3. Pushes")[0]
    rows = [line.split() for line in fetch_section.splitlines() if " succeeded " in line]
    assert len(rows) == len(list((ROOT / "events").glob("fetch_*.json"))) + 1  # + the template's
    assert all(row[4] == row[5] == row[6] for row in rows)  # fetched == in table == served
    assert re.search(r"21 sent: 19 delivered, 2 dead-lettered", output)
    ports = [int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", output)]
    assert len(set(ports)) == 3  # moto, the demo API, the test API
    assert in_session(process.pid) == set()
    assert not any(port_open(port) for port in set(ports))
