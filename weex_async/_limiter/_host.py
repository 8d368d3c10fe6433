"""Pools shared by every process of the user on one host, through a file: no server.

The ledger is an SQLite database (the standard library's ``sqlite3``, in WAL mode) in the user's
state directory. Each step (check and charge every pool of a call, re-stamp, pause) is one
``BEGIN IMMEDIATE`` transaction taken under an exclusive ``flock`` on a lock file next to it, so
steps of different processes never interleave, and a waiting process sleeps in the kernel (woken
when the lock is released) rather than in SQLite's busy loop. Taking the lock never blocks the
event loop: it is tried at once, and waited for on a worker thread only when another process
holds it (for the few tens of microseconds of its step), at most ``timeout`` seconds (then the
ledger is unavailable: the outage behaviour of ``_shared``); the thread is a daemon, so one stuck
behind a stopped process never holds up the exit. SQLite's own lock, which another program may
hold (it takes no ``flock``), is never waited for by SQLite's busy handler on the loop: the
connection's busy timeout is 0 and ``_begin`` tries again in short sleeps, up to
``BUSY_TIMEOUT``; a first opening that finds the file held is done on a worker thread.

Time is the host's monotonic clock (``time.monotonic``: ``CLOCK_MONOTONIC``, one clock for every
process of the host, never stepped by NTP). That clock starts again at a reboot: a process that
opens a file written during another boot (Linux's boot id) forgets its charges (their requests
are long gone); elsewhere, a stamp more than a minute ahead is dropped.

The contract is the Redis ledger's (``_ledger``): a charge is stamped one lease ahead and renewed
while its request is on the wire, settled at the answer, and expires on its own if its process
dies. A process killed in the middle of a step leaves nothing half-written (SQLite rolls the
transaction back; the kernel releases the lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import ClassVar

from ._ledger import (
    HOLD_LEASE,
    MIN_WAIT,
    Ledger,
    LedgerReset,
    LedgerUnavailable,
    PoolCharge,
    Receipt,
)

__all__ = ["HostLedger", "LedgerUnusable", "default_path", "open_database"]

log = logging.getLogger("weex_async.limiter")

#: The file's schema version (``PRAGMA user_version``).
_VERSION = 1
#: The longest pause kept, in seconds (a day: far beyond any ``max_retry_after``).
_MAX_PAUSE = 86_400.0
#: A stamp later than now plus this (far beyond a lease) is from before the clock started again.
_FUTURE = 60.0
#: This boot's id (Linux): a ledger written during another boot forgets its charges.
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS charges (
  pool TEXT NOT NULL, member TEXT NOT NULL, stamp REAL NOT NULL, weight INTEGER NOT NULL,
  PRIMARY KEY (pool, member)
);
CREATE INDEX IF NOT EXISTS charges_by_pool ON charges (pool, stamp);
CREATE TABLE IF NOT EXISTS pauses (pool TEXT PRIMARY KEY, until REAL NOT NULL);
"""


def default_path() -> Path:
    """The host ledger's file: ``$XDG_STATE_HOME/weex-async/ledger.sqlite3``, else
    ``~/.local/state/weex-async/ledger.sqlite3`` (a relative ``XDG_STATE_HOME`` is ignored, as
    the XDG specification says)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "weex-async" / "ledger.sqlite3"


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


class LedgerUnusable(LedgerUnavailable):
    """The host ledger's file cannot be opened or used: an outage (the fallback share), never a
    configuration error: a kill switch must not stop at its own bookkeeping file.

    Attributes:
        path: the file.
        reason: why, as ``"DatabaseError: file is not a database"``.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"the host ledger {path} cannot be used ({reason})")
        self.path = path
        self.reason = reason


def _reason(exc: BaseException) -> str:
    if isinstance(exc, LedgerUnusable):
        return exc.reason
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"{type(exc).__name__}: {text}"


#: SQLite's result codes for "another connection holds the lock" (their primary codes).
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


class _Busy(Exception):
    """``open_database(wait=False)`` would have had to wait for another process or program."""


def _is_busy(exc: sqlite3.Error) -> bool:
    """SQLite refused at once because another connection holds the file's lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "locked" in str(exc)


def open_database(path: Path, *, wait: bool = True) -> tuple[sqlite3.Connection, int]:
    """Open (creating it if needed) the ledger at ``path`` and its lock file, and check that
    both can be written: the connection and the lock file's descriptor.

    ``wait=False`` (on the event loop): never wait for the host's lock or SQLite's; raise
    ``_Busy`` instead, and open again with waits on a worker thread.

    Raises:
        LedgerUnusable: the file cannot be created, read or written, or is not a ledger (a
            corrupt file, another database, a read-only file system); the reason says which.
    """
    connection: sqlite3.Connection | None = None
    fd = -1
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(_lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        # One opener at a time, and never during another's step: switching a new file to WAL
        # takes SQLite's exclusive lock, which a concurrent opener (another process, or another
        # thread's loop in this one) was refused at once ("database is locked").
        locked = _try_flock(fd, 2.0 if wait else 0.0)
        if not locked and not wait:
            raise _Busy
        try:
            connection = sqlite3.connect(
                path,
                timeout=BUSY_TIMEOUT if wait else 0.0,
                isolation_level=None,
                check_same_thread=False,
            )
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"journal_mode is {mode}, not WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _VERSION):
                raise sqlite3.DatabaseError(f"schema version {version}, not {_VERSION}")
            _create(connection)
            check = connection.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {check}")
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)
        # Every later wait for SQLite's lock is the ledger's own, off the event loop (``_begin``).
        connection.execute("PRAGMA busy_timeout=0")
    except (OSError, sqlite3.Error, _Busy) as exc:
        if connection is not None:
            connection.close()
        if fd >= 0:
            os.close(fd)
        if not wait and (
            isinstance(exc, _Busy) or (isinstance(exc, sqlite3.Error) and _is_busy(exc))
        ):
            raise _Busy from None
        raise LedgerUnusable(path, _reason(exc)) from None
    return connection, fd


#: The longest wait for SQLite's own lock on the file, in seconds, held by another program (every
#: weex-async process takes the host's lock first): then the step fails (an outage).
BUSY_TIMEOUT = 1.0
#: The longest pause between two tries of SQLite's lock, in seconds.
_BUSY_POLL_MAX = 0.02


def _try_flock(fd: int, timeout: float) -> bool:
    """The ledger's lock, waited for at most ``timeout`` seconds (at construction only)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False  # SQLite's own locking still keeps the file whole
            time.sleep(0.001)
        else:
            return True


def _create(connection: sqlite3.Connection) -> None:
    """Create the tables (if new), the epoch, and forget the charges of another boot."""
    try:
        boot = _BOOT_ID.read_text().strip()
    except OSError:
        boot = ""
    connection.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES ('epoch', ?)",
            (secrets.token_hex(8),),
        )
        row = connection.execute("SELECT value FROM meta WHERE name = 'boot'").fetchone()
        if boot and row is not None and row[0] != boot:  # stamps of another monotonic clock
            connection.execute("DELETE FROM charges")
            connection.execute("DELETE FROM pauses")
        # a write every time: a file that cannot be written fails here, not later
        connection.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES ('boot', ?)", (boot or "-",)
        )
        connection.execute(f"PRAGMA user_version={_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


async def _begin(db: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, waiting for SQLite's lock without blocking the event loop: another
    program holding the file's write lock (every weex-async process takes the host's lock
    first) is waited for in short sleeps, at most ``BUSY_TIMEOUT`` in all, as SQLite's busy
    timeout waited; then the step fails (an outage), as it did."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_TIMEOUT
    pause = 0.001
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            left = deadline - loop.time()
            if not _is_busy(exc) or left <= 0:
                raise
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, _BUSY_POLL_MAX)


def _close_unused(opening: asyncio.Future[tuple[sqlite3.Connection, int]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        connection, fd = opening.result()
        connection.close()
        os.close(fd)


def _weight(member: str) -> int:
    return int(member.rsplit(":", 1)[1])


class HostLedger(Ledger):
    """The shared ledger in a file of this host (every process of the user that opens it).

    A file that cannot be opened or used (corrupt, another program's database, a directory or
    file system that cannot be written, a full disk), at the first use or later, is an *outage*
    (``LedgerUnusable``), as an unreachable Redis is: the process spends its fallback share,
    logs one WARNING naming the file and the reason (once per file and process, until it works
    again), and opens the file again every ``retry_interval``.

    Args:
        path: the SQLite file (created with its directory if needed).
        timeout: the longest wait for another process's step, in seconds (then: an outage).
        retry_interval: seconds between attempts to use the file again during an outage.
        lease: seconds ahead of the clock a charge on the wire is stamped (``HOLD_LEASE``).
    """

    kind = "the host ledger"
    #: the files this process has reported unusable (one WARNING each, until they work again)
    _reported: ClassVar[set[Path]] = set()

    def __init__(
        self,
        path: Path,
        timeout: float = 2.0,
        retry_interval: float = 1.0,
        lease: float = HOLD_LEASE,
    ) -> None:
        super().__init__(path.as_uri(), str(path), retry_interval, lease)
        self.path = path
        self._timeout = timeout
        #: the connection and the lock file's descriptor; ``None`` until opened (again)
        self._db: sqlite3.Connection | None = None
        self._fd = -1
        self._lock = asyncio.Lock()
        self._token = secrets.token_hex(6)
        self._seq = 0
        self._closed = False
        self._abandoned: asyncio.Future[None] | None = None

    def key(self, *parts: str) -> str:
        return ":".join(parts)

    async def _opened(self) -> sqlite3.Connection:
        """The connection, opening the file first if it is not open (the first use, or after a
        failure closed it: a file fixed, removed or replaced meanwhile is used again). Called
        under ``_lock``. Opening never waits on the event loop: when another process or program
        holds the file, it is opened again, with waits, on a worker thread."""
        if self._db is None:
            try:
                try:
                    self._db, self._fd = open_database(self.path, wait=False)
                except _Busy:
                    self._db, self._fd = await self._open_off_the_loop()
            except LedgerUnusable as exc:
                self._went_down(exc)
                raise
            if self.path in HostLedger._reported and not self.down:
                # reported by another ledger of this process (an earlier client): say it is over
                # (a ledger that was down itself says so in ``_came_back``)
                HostLedger._reported.discard(self.path)
                log.warning("the host ledger %s can be used again", self.path)
        return self._db

    async def _open_off_the_loop(self) -> tuple[sqlite3.Connection, int]:
        opening = asyncio.ensure_future(asyncio.to_thread(open_database, self.path))
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_unused)  # opened for no one
            raise

    def _failed(self, exc: BaseException) -> LedgerUnavailable:
        """A step or read failed: an outage; the file is closed, to be opened again at the next
        try (unless a lock waiter still holds its descriptor)."""
        self._went_down(exc)
        if self._abandoned is None and self._db is not None:
            self._db.close()
            os.close(self._fd)
            self._db, self._fd = None, -1
        return LedgerUnusable(self.path, _reason(exc))

    def _report_down(self, exc: BaseException) -> None:
        first = self.path not in HostLedger._reported
        HostLedger._reported.add(self.path)
        log.log(
            logging.WARNING if first else logging.INFO,
            "the host ledger %s cannot be used (%s): this process spends only its fallback "
            "share of each budget, published nowhere, and tries the file again every %gs "
            "(fix or remove it to share again)",
            self.path,
            _reason(exc),
            self.retry_interval,
            extra={"weex_async_host_ledger": str(self.path)},
        )

    def _came_back(self) -> None:
        if self.down:
            HostLedger._reported.discard(self.path)
        super()._came_back()

    @contextlib.asynccontextmanager
    async def _step(self) -> AsyncIterator[sqlite3.Connection]:
        """One step of this process on the file: the in-process lock, then the host's lock, then
        one ``BEGIN IMMEDIATE`` transaction, committed at the end (rolled back on an error)."""
        async with self._lock:
            if self._closed:
                raise LedgerUnavailable("the host ledger is closed")
            if self._abandoned is not None:  # a wait that timed out still holds the descriptor
                raise LedgerUnavailable("another process still holds the host ledger's lock")
            db = await self._opened()
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                await self._wait_for_lock()
            except OSError as exc:
                raise self._failed(exc) from None
            failure: BaseException | None = None
            try:
                await _begin(db)
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as exc:
                failure = exc
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            if failure is not None:
                raise self._failed(failure) from None
            self._came_back()

    async def _wait_for_lock(self) -> None:
        """Another process is in a step: wait for the lock on a worker thread (the kernel wakes
        it when the lock is released), at most ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[None] = loop.create_future()
        fd = self._fd

        def wait() -> None:  # a daemon thread: one stuck here never holds up the exit
            outcome: OSError | None = None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                outcome = exc

            def settle() -> None:
                if not waiting.done():
                    if outcome is None:
                        waiting.set_result(None)
                    else:
                        waiting.set_exception(outcome)

            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle)

        threading.Thread(target=wait, name="weex-async host ledger lock", daemon=True).start()
        try:
            await asyncio.wait_for(asyncio.shield(waiting), self._timeout)
        except BaseException as exc:
            # the thread may still get the lock later: let it go at once then (and take no
            # step meanwhile: the lock belongs to this descriptor, whichever thread took it)
            self._abandoned = waiting
            waiting.add_done_callback(self._let_go)
            if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
                error = TimeoutError(f"another process held the lock for {self._timeout:g}s")
                self._went_down(error)
                raise LedgerUnavailable(str(error)) from None
            raise

    def _let_go(self, waited: asyncio.Future[None]) -> None:
        """A lock got after its waiter gave up: release it (unless the ledger is closed)."""
        self._abandoned = None
        if not waited.cancelled() and waited.exception() is None and not self._closed:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    async def current_epoch(self) -> str:
        if self._closed:
            raise LedgerUnavailable("the host ledger is closed")
        async with self._lock:  # one opener at a time
            db = await self._opened()
        try:  # a read: WAL gives it a consistent snapshot without the lock
            row = db.execute("SELECT value FROM meta WHERE name = 'epoch'").fetchone()
            if row is None:
                raise sqlite3.DatabaseError("no epoch in the ledger")
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        return str(row[0])

    async def try_reserve(self, pools: Sequence[PoolCharge]) -> tuple[float, list[str]]:
        async with self._step() as db:
            now = time.monotonic()
            epoch = db.execute("SELECT value FROM meta WHERE name = 'epoch'").fetchone()[0]
            if epoch != self.epoch:
                raise LedgerReset(str(epoch))
            lease = self.lease
            wait = 0.0
            for key, limit, window, weight in pools:
                db.execute(
                    "DELETE FROM charges WHERE pool = ? AND (stamp <= ? OR stamp > ?)",
                    (key, now - window, now + _FUTURE),
                )
                (used,) = db.execute(
                    "SELECT COALESCE(SUM(weight), 0) FROM charges WHERE pool = ?", (key,)
                ).fetchone()
                excess = used + weight - limit
                if excess > 0:
                    for stamp, spent in db.execute(
                        "SELECT stamp, weight FROM charges WHERE pool = ? ORDER BY stamp", (key,)
                    ):
                        excess -= spent
                        if excess <= 0:
                            # a charge on the wire (stamped ahead) frees one window after its
                            # answer at the earliest: ask again then, not a lease later
                            wait = max(wait, min(stamp, now) + window - now)
                            break
                row = db.execute("SELECT until FROM pauses WHERE pool = ?", (key,)).fetchone()
                if row is not None:
                    if row[0] <= now or row[0] > now + _MAX_PAUSE:
                        db.execute("DELETE FROM pauses WHERE pool = ?", (key,))
                    else:
                        wait = max(wait, row[0] - now)
            if wait > 0:
                return max(wait, MIN_WAIT), []
            self._seq += 1
            members = [f"{self._token}:{self._seq}:{weight}" for _, _, _, weight in pools]
            db.executemany(
                "INSERT INTO charges (member, pool, stamp, weight) VALUES (?, ?, ?, ?)",
                [
                    (member, key, now + lease, weight)
                    for member, (key, _, _, weight) in zip(members, pools, strict=True)
                ],
            )
            return 0.0, members

    async def restamp(self, charges: Sequence[Receipt], offset: float) -> int:
        found = 0
        async with self._step() as db:
            stamp = time.monotonic() + offset
            for key, _, member in charges:
                changed = db.execute(
                    "UPDATE charges SET stamp = ? WHERE pool = ? AND member = ?",
                    (stamp, key, member),
                ).rowcount
                if changed:
                    found += 1
                else:
                    db.execute(
                        "INSERT INTO charges (member, pool, stamp, weight) VALUES (?, ?, ?, ?)",
                        (member, key, stamp, _weight(member)),
                    )
        return found

    async def republish(
        self, epoch: str, pools: Sequence[tuple[str, float, Sequence[tuple[float, int]]]]
    ) -> None:
        async with self._step() as db:
            now = time.monotonic()
            known = db.execute("SELECT value FROM meta WHERE name = 'epoch'").fetchone()[0]
            if known != epoch:
                raise LedgerReset(str(known))
            for key, window, spent in pools:
                for age, weight in spent:
                    if age < window:
                        self._seq += 1
                        db.execute(
                            "INSERT INTO charges (member, pool, stamp, weight) VALUES (?, ?, ?, ?)",
                            (f"{self._token}:{self._seq}:{weight}", key, now - age, weight),
                        )
        self.epoch = epoch

    async def pause(self, pool_keys: Sequence[str], seconds: float) -> None:
        seconds = min(max(seconds, 0.001), _MAX_PAUSE)
        with contextlib.suppress(LedgerUnavailable):
            async with self._step() as db:
                until = time.monotonic() + seconds
                db.executemany(
                    "INSERT INTO pauses (pool, until) VALUES (?, ?) "
                    "ON CONFLICT (pool) DO UPDATE SET until = max(until, excluded.until)",
                    [(key, until) for key in pool_keys],
                )

    async def aclose(self) -> None:
        async with self._lock:
            if not self._closed:
                self._closed = True
                if self._db is not None:
                    self._db.close()
                    os.close(self._fd)
