"""Fixtures shared by integration tests: the real local servers of tests/support/servers.py."""

from tests.support.push import moto_process, push_rig, receiver  # noqa: F401  (fixtures)
from tests.support.servers import (  # noqa: F401  (fixtures)
    auth_proxy,
    https_server,
    mtls_server,
    scripted_server,
    server,
    tls_ca,
)
