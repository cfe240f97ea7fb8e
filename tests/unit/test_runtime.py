"""One runtime owns what a container keeps; one reset starts a container afresh."""

from __future__ import annotations

import threading

import pytest

from apicall.core import settings
from apicall.core.models import Connection
from apicall.core.runtime import RUNTIME, Runtime
from apicall.http.client import client_for
from tests.support.environment import HANDLER_ENVIRONMENT


def test_a_slot_builds_once_and_reset_closes_it_and_builds_anew() -> None:
    runtime, closed = Runtime(), []
    builds = iter(["first", "second"])
    slot = runtime.slot(lambda: next(builds), close=closed.append)

    assert (slot.get(), slot.get()) == ("first", "first")
    runtime.reset()

    assert closed == ["first"] and slot.get() == "second"


def test_a_keyed_value_is_built_once_however_many_threads_ask_at_once() -> None:
    runtime = Runtime()
    keyed = runtime.keyed()
    asking, builds = threading.Barrier(8), []

    def build() -> object:
        builds.append(1)
        return object()

    def ask(results: list[object]) -> None:
        asking.wait()
        results.append(keyed.get("connection", build))

    results: list[object] = []
    threads = [threading.Thread(target=ask, args=(results,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(builds) == 1 and len({id(r) for r in results}) == 1


def test_reset_runs_the_hooks_of_caches_a_library_keeps() -> None:
    runtime, calls = Runtime(), []
    runtime.on_reset(lambda: calls.append("cleared"))

    runtime.reset()

    assert calls == ["cleared"]


def test_the_container_runtime_closes_the_connection_clients_pools_on_reset() -> None:
    connection = Connection(allow_private_network=True)
    first = client_for(connection, "crm")
    assert client_for(connection, "crm") is first
    assert client_for(connection.model_copy(), "crm") is first  # an equal connection

    RUNTIME.reset()

    assert first.http.is_closed
    assert client_for(connection, "crm") is not first


def test_a_changed_connection_gets_a_client_of_its_own() -> None:
    connection = Connection(allow_private_network=True)
    first = client_for(connection, "crm")

    rotated = client_for(connection.model_copy(update={"timeout_s": 3.0}), "crm")

    assert rotated is not first and rotated.connection.timeout_s == 3.0


def test_the_settings_a_handler_loads_are_the_containers_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in HANDLER_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)

    loaded = settings.load(settings.PushSettings)

    assert settings.get_settings() is loaded  # read once per container, not twice
    RUNTIME.reset()
    assert settings.get_settings() is not loaded
