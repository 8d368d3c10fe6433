"""A real redis-server for tests and benchmarks, on a free loopback port (never assumed running)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from ._measure import free_port

__all__ = ["RedisServer"]


class RedisServer:
    """A throwaway ``redis-server`` (no persistence) bound to 127.0.0.1.

    Args:
        workdir: where the server may write (nothing is saved).
        port: a fixed port; a free one by default.
        args: more ``redis-server`` arguments (``["--maxmemory-policy", "allkeys-lru"]``).
    """

    def __init__(self, workdir: Path, port: int | None = None, args: Sequence[str] = ()) -> None:
        self.binary = shutil.which("redis-server")
        self.port = port or free_port()
        self.workdir = workdir
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def available(self) -> bool:
        """True when a ``redis-server`` binary is on PATH."""
        return self.binary is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        if self.binary is None:
            raise RuntimeError(
                "redis-server is not installed (Debian: apt-get install redis-server)"
            )
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.kill()  # never left running behind a failed start
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        """Kill it at once (SIGKILL: nothing saved, as in a crash); ``start()`` brings up an
        empty one on the same port."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """Stop it (a later ``start()`` reuses the same port)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
