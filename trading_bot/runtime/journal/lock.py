"""One bot per journal: an exclusive lock held for the life of the run.

Two bots writing one journal (same bot id, same account) would trade the account twice and interleave
their client-order-id sequences. The bot therefore holds, from opening the journal until closing it:

* **SQLite**: an ``flock`` on ``<journal>.lock`` beside the database file (mode ``0600``), which holds
  the holder's pid, bot id and start time. The kernel drops the lock when the process dies, even by
  ``kill -9``, so a stale file never blocks a restart (the file stays; only the lock matters).
* **PostgreSQL**: a session advisory lock keyed by the bot id (many bots may share one PostgreSQL
  journal, one per bot id), held on a connection of its own; PostgreSQL drops it with the session.

A second bot on the same journal is refused with a :class:`~trading_bot.errors.ConfigError` (exit 2)
naming the holder. Read-only commands (``orders``, ``trades``, ``status``) take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from pathlib import Path

from trading_bot.errors import ConfigError
from trading_bot.runtime.journal.access import translate

__all__ = ["FileLock", "advisory_key", "holder_name", "lock_path"]


def lock_path(journal: Path) -> Path:
    """Return the lock file of the SQLite journal ``journal`` (``journal.db`` → ``journal.db.lock``)."""
    return journal.with_name(journal.name + ".lock")


def holder_name(bot_id: str) -> str:
    """Return how a lock holder describes itself: ``pid 1234, bot id tb1``."""
    return f"pid {os.getpid()}, bot id {bot_id}"


def advisory_key(bot_id: str) -> int:
    """Return the PostgreSQL advisory-lock key of ``bot_id``: a stable signed 64-bit integer."""
    digest = hashlib.sha256(b"trading-bot journal:" + bot_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class FileLock:
    """An exclusive ``flock`` on a SQLite journal's lock file; :meth:`acquire`, then :meth:`release`."""

    def __init__(self, path: Path, fd: int) -> None:
        """Wrap a locked file descriptor; use :meth:`acquire`."""
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, journal: Path, bot_id: str) -> FileLock:
        """Lock ``journal`` for this process (its directory must exist) and record who holds it.

        Raises:
            ConfigError: another process holds the lock (the message names its pid and bot id).
            OperationalError: the lock file cannot be created or opened (permissions, read-only mount).
        """
        path = lock_path(journal)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise translate(exc, path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise ConfigError(
                f"journal {journal} is in use by another bot ({holder}, lock {path}); stop that bot first, or give "
                "this one its own bot.data_dir (one bot per journal)"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise translate(exc, path) from None
        record = {"pid": os.getpid(), "bot_id": bot_id, "since_ms": time.time_ns() // 1_000_000}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        except OSError:
            pass  # the lock is what matters; the record only helps the message of a second bot
        return cls(path, fd)

    def release(self) -> None:
        """Drop the lock (the file stays: removing it could race a starting bot)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {int(record['pid'])}, bot id {record['bot_id']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"
