"""Unit tests run without any network, loopback included."""

import pytest_socket

# Built before sockets are disabled: with tracing on, the X-Ray tracer opens its UDP emitter
# socket on creation (off, as here outside Lambda, apicall never loads the X-Ray SDK).
import apicall.core.observability  # noqa: F401


def pytest_runtest_setup() -> None:
    pytest_socket.disable_socket(allow_unix_socket=True)
