"""An ASGI app served over real HTTP on 127.0.0.1 for the duration of a test (uvicorn in a
thread, on a port the OS picks), shared by the browser and FHIR endpoint tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve(app=None, *, build: Callable[[str], Any] | None = None) -> Iterator[str]:
    """Yield the base URL of ``app`` served on a free loopback port; stop it afterwards.
    ``build``: instead of ``app``, make it from the base URL (an OIDC redirect URI names the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if build is not None:
        app = build(f"http://127.0.0.1:{port}")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not srv.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()
