"""moto's server on 127.0.0.1 with DynamoDB's atomicity, for tests that span processes.

moto applies a conditional UpdateItem as read, check, write without a lock, so two threads of its
server can both pass the same condition: a lost update that DynamoDB itself never allows. Serving
one AWS call at a time restores the guarantee that conditional writes rely on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from tests.support.servers import free_port


class _OneCallAtATime:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


@contextmanager
def atomic_moto_server() -> Iterator[str]:
    """Yields the endpoint URL of a moto server whose calls are applied one at a time."""
    app = _OneCallAtATime(DomainDispatcherApplication(create_backend_app))
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join()
