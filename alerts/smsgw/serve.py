"""Serve an ASGI app with uvicorn in a background thread, for tests and the demo."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from fastapi import FastAPI


@contextmanager
def serving(
    app: FastAPI,
    host: str = "127.0.0.1",
    startup_s: float = 10.0,
    lifespan: Literal["auto", "on", "off"] = "off",
) -> Iterator[str]:
    """Yield the base URL of app served on a free port; stop the server on exit."""
    # Binding port 0 here lets the OS pick a free port with no window for another
    # process to take it between choosing and listening.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    # log_config=None: the process's logging (core.logs) stays in charge of every line.
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan=lifespan, log_config=None)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=startup_s)
        sock.close()
