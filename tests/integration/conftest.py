"""Fixtures shared by integration tests: the real local servers of tests/support/servers.py."""

import logging
from collections.abc import Iterator

import pytest

from apicall.core.observability import logger as apicall_logger
from tests.support.push import moto_process, push_rig, receiver  # noqa: F401  (fixtures)
from tests.support.servers import (  # noqa: F401  (fixtures)
    auth_proxy,
    https_server,
    mtls_server,
    scripted_server,
    server,
    tls_ca,
)


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """apicall's logger and the root logger at DEBUG, as an operator chasing a bug would set."""
    previous = apicall_logger.log_level
    apicall_logger.setLevel("DEBUG")
    caplog.set_level(logging.DEBUG)
    yield
    apicall_logger.setLevel(previous)
