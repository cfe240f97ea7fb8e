"""Unit tests run without any network, loopback included."""

import pytest_socket


def pytest_runtest_setup() -> None:
    pytest_socket.disable_socket(allow_unix_socket=True)
