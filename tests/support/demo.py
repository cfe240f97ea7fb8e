"""The demo third-party API and its connections, for tests that drive whole functions."""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.demo_api import DemoAPI, serve
from local.stack import CONNECTIONS_DIR

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


@pytest.fixture
def demo_api() -> Iterator[tuple[DemoAPI, str]]:
    """The demo API on a free loopback port: (app, base URL)."""
    app = DemoAPI()
    server = serve(app)
    try:
        yield app, f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()


@pytest.fixture
def demo_connections(
    demo_api: tuple[DemoAPI, str], put_connection: Callable[[str, dict[str, Any]], str]
) -> list[str]:
    """Every local/connections/*.json stored as a secret, pointed at the demo API."""
    _, url = demo_api
    names = []
    for path in sorted(CONNECTIONS_DIR.glob("*.json")):
        text = string.Template(path.read_text()).substitute({"DEMO_API_URL": url})
        put_connection(path.stem, json.loads(text))
        names.append(path.stem)
    return names
