"""Serving a ``FakeExchange`` on loopback with uvicorn (the ``fake`` extra)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._faults import DroppedConnection

if TYPE_CHECKING:
    from ._exchange import FakeExchange

__all__ = ["serve"]


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        # weex-async is not on the package index yet: a hint naming the index could install
        # someone else's package, so it names the checkout.
        raise RuntimeError(
            "serving the fake exchange needs uvicorn (the 'fake' extra): in your checkout of "
            "weex-async, pip install -e '.[fake]'"
        ) from None
    return uvicorn


@contextlib.contextmanager
def serve(
    exchange: FakeExchange, host: str = "127.0.0.1", port: int = 0, keep_alive: float = 5.0
) -> Iterator[str]:
    """Serve ``exchange`` on ``host:port`` in a background thread; yields its base URL.

    The server runs its own event loop in its own thread, so the code under test keeps its loop to
    itself; the exchange's state is only touched from the server's thread while it runs.

    Args:
        exchange: the app to serve.
        host: a loopback address (never a public one).
        port: 0 picks a free port.
        keep_alive: seconds the server keeps an idle connection open (uvicorn's default, 5).

    Raises:
        OSError: before anything is served, when ``host:port`` cannot be bound: ``errno``
            ``EADDRINUSE`` when the port is in use.
    """
    uvicorn = _uvicorn()
    # bound here, in the caller's thread: a port in use is an OSError the caller can catch,
    # where uvicorn's own bind would log an error and end its thread
    listener = _listening(host, port)
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        exchange,
        host=host,
        port=port,
        log_level="error",
        lifespan="off",
        access_log=False,
        timeout_keep_alive=keep_alive,
    )
    server = uvicorn.Server(config)
    uvicorn_errors = logging.getLogger("uvicorn.error")
    uvicorn_errors.addFilter(_quiet_drops)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[listener])),
        name="weex-fake-exchange",
        daemon=True,
    )
    thread.start()
    for _ in range(500):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    try:
        if not server.started:
            raise RuntimeError(f"the fake exchange did not start on {host}:{port}")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        uvicorn_errors.removeFilter(_quiet_drops)
        listener.close()


def _listening(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port), as uvicorn binds its own."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said, not 0: asyncio sets TCP_NODELAY only on sockets that say it (accepted
    # ones inherit it); without, every answer waits ~40 ms for a delayed ACK
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not past a listener
        listener.bind((host, port))
    except BaseException:
        listener.close()
        raise
    return listener


def _quiet_drops(record: logging.LogRecord) -> bool:
    """uvicorn logs a traceback for every connection the app drops on purpose: not those."""
    return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))
