"""Where the journal is, whether it can be used, and one-line errors for everything that goes wrong.

Every way of reaching the journal (the bot, ``check-config``, the read commands) goes through here:

* :func:`locate` parses the URL (already normalised by ``PersistenceSection``) and checks that the
  PostgreSQL driver is installed;
* :func:`check_sqlite_file` inspects a SQLite journal's path without writing anything: a directory or a
  file where a directory should be, a file that is not a SQLite database (garbage, truncated), missing
  read or write permission;
* :func:`prepare_sqlite_file` creates what the bot needs, private to its user: missing directories
  ``0700`` (an existing directory keeps its mode) and the database file ``0600`` (SQLite gives its
  ``-wal`` and ``-shm`` files the database file's mode);
* :func:`translate` turns a raw ``sqlite3`` / SQLAlchemy / driver / ``OSError`` into one line:
  :class:`~trading_bot.errors.ConfigError` (exit 2) when the operator must fix the setup (bad URL, no
  driver, not a database, a directory in the file's place, an unknown database or role) and
  :class:`~trading_bot.errors.OperationalError` (exit 1) for conditions of the machine (permission denied,
  read-only file or mount, immutable file, disk full, I/O error, database server unreachable).

Messages name the file (or the URL with its password hidden) and the fix, never a traceback.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import DBAPIError

from trading_bot.errors import ConfigError
from trading_bot.errors import OperationalError
from trading_bot.errors import TradingBotError

__all__ = [
    "FileState",
    "JournalLocation",
    "check_sqlite_file",
    "locate",
    "prepare_sqlite_file",
    "translate",
]

FileState = Literal["missing", "empty", "database"]
"""What :func:`check_sqlite_file` found at the journal's path."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_MOVE_ASIDE = (
    "restore it from a backup, or move it aside so the bot starts a new journal (then start once with --adopt)"
)
_POSTGRES_DRIVER = "pip install 'trading-bot[postgres]'"


@dataclass(frozen=True, slots=True)
class JournalLocation:
    """A parsed journal URL.

    Attributes:
        url: the SQLAlchemy URL.
        shown: the URL for messages and logs (password hidden).
        path: the SQLite database file, or ``None`` (PostgreSQL; SQLite ``file:`` URIs).
    """

    url: URL
    shown: str
    path: Path | None

    @property
    def is_sqlite(self) -> bool:
        """True for a SQLite journal."""
        return self.url.get_backend_name() == "sqlite"

    @property
    def name(self) -> str:
        """The journal's file path, else its URL (password hidden): what messages call it."""
        return str(self.path) if self.path is not None else self.shown


def locate(db_url: str) -> JournalLocation:
    """Parse a normalised journal URL and check that its driver is installed.

    Raises:
        ConfigError: not a URL SQLAlchemy can parse, an unsupported database, or asyncpg missing.
    """
    try:
        url = make_url(db_url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"persistence.db_url: not a database URL: {_redact(db_url)!r}") from None
    shown = url.render_as_string(hide_password=True)
    backend = url.get_backend_name()
    if backend == "postgresql":
        if importlib.util.find_spec("asyncpg") is None:
            raise ConfigError(
                f"persistence.db_url: {shown} needs the PostgreSQL driver asyncpg, which is not installed; "
                f"{_POSTGRES_DRIVER}"
            )
        return JournalLocation(url, shown, None)
    if backend != "sqlite":
        raise ConfigError(f"persistence.db_url: database {backend!r} is not supported; use sqlite or postgresql")
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return JournalLocation(url, shown, None)
    if "\x00" in database:
        raise ConfigError(f"persistence.db_url: the path contains a NUL byte: {database!r}")
    return JournalLocation(url, shown, Path(database).expanduser().absolute())


def _redact(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest:
        return text
    credentials, _, host = rest.rpartition("@")
    return f"{scheme}://{credentials.partition(':')[0]}:***@{host}"


def check_sqlite_file(path: Path, *, write: bool) -> FileState:
    """Inspect the SQLite journal at ``path`` without creating or changing anything.

    Args:
        path: the database file.
        write: also require that the bot can write the file and its directory (``-wal``, ``-shm``).

    Returns:
        ``missing`` (the bot creates it), ``empty`` (a zero-byte file) or ``database``.

    Raises:
        ConfigError: a directory in the file's place, a file where a directory should be, or a file that
            is not a (whole) SQLite database.
        OperationalError: permission denied on the file or its directory.
    """
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        _check_parents(path, write=write)  # raises when a file stands where a directory should be
        return "missing"
    except OSError as exc:
        raise translate(exc, path) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"journal {path} is a directory; the journal is a file: remove or rename the directory, or point "
            "persistence.db_url (or bot.data_dir) elsewhere"
        )
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(
            f"journal {path} is not a regular file (a FIFO, socket or device); point persistence.db_url elsewhere"
        )
    _check_access(path, os.R_OK | (os.W_OK if write else 0), "file")
    if write:
        _check_access(path.parent, os.W_OK | os.X_OK, "directory")
    if info.st_size == 0:
        return "empty"
    _check_header(path, info.st_size)
    return "database"


def _check_parents(path: Path, *, write: bool) -> None:
    """Check the nearest existing ancestor of a missing journal: a directory the bot may write into."""
    parent = path.parent
    while True:
        try:
            info = parent.stat()
        except (FileNotFoundError, NotADirectoryError):
            parent = parent.parent
            continue
        except OSError as exc:
            raise translate(exc, parent) from None
        break
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"bot.data_dir: {parent} is a file, not a directory, so the journal {path} cannot be created there; "
            "set bot.data_dir (or persistence.db_url) to a directory"
        )
    if write:
        _check_access(parent, os.W_OK | os.X_OK, "directory")


def _check_access(path: Path, mode: int, kind: str) -> None:
    if os.access(path, mode):
        return
    if kind == "file" and mode & os.W_OK and os.access(path, os.R_OK):
        try:  # say why: an immutable flag (EPERM), a read-only mount (EROFS) or the mode (EACCES)
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # opening writes nothing
        except OSError as exc:
            raise translate(exc, path) from None
    wants = "read" if not os.access(path, os.R_OK) else "write"
    raise OperationalError(
        f"journal: permission denied: this user (uid {os.geteuid()}) cannot {wants} the {kind} {path}; "
        "run the bot as the journal's owner or fix its owner and mode"
    )


def _check_header(path: Path, size: int) -> None:
    """Refuse a file that is not a SQLite database, or one shorter than its header says (truncated)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(_HEADER_SIZE)
    except OSError as exc:
        raise translate(exc, path) from None
    if len(header) < _HEADER_SIZE or not header.startswith(_SQLITE_MAGIC):
        raise ConfigError(f"journal {path} is not a SQLite database (another file, or garbage); {_MOVE_ASIDE}")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]  # the in-header size is trusted only when these agree
    if header_valid and pages and size < pages * page_size:
        raise ConfigError(
            f"journal {path} is truncated ({size} bytes, its header says {pages * page_size}); {_MOVE_ASIDE}"
        )


def prepare_sqlite_file(path: Path) -> None:
    """Create the journal's missing directories (``0700``) and an empty database file (``0600``).

    Existing directories and an existing file keep their modes.

    Raises:
        ConfigError: a file stands where a directory should be.
        OperationalError: permission denied, read-only file system, disk full.
    """
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    try:
        for directory in reversed(missing):
            directory.mkdir(mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        return  # created meanwhile (or the path exists): SQLite opens it as it is
    except OSError as exc:
        raise translate(exc, path) from None


# -- error translation -----------------------------------------------------------------------------

_CORRUPT = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
_READ_ONLY = ("SQLITE_READONLY",)
_FULL = ("SQLITE_FULL",)
_IO = ("SQLITE_IOERR",)
_PERMISSION = ("SQLITE_PERM", "SQLITE_AUTH")
_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
# Driver exceptions (asyncpg, by class name: the package is optional) an operator fixes in the config.
_PG_CONFIG = frozenset(
    {
        "InvalidPasswordError",
        "InvalidAuthorizationSpecificationError",
        "InvalidCatalogNameError",
        "UndefinedObjectError",
        "ClientConfigurationError",
    }
)


def translate(exc: BaseException, where: Path | JournalLocation | str) -> TradingBotError:
    """Return the one-line error for a failure while opening or writing the journal at ``where``.

    Args:
        exc: the raw error (``sqlite3.Error``, a SQLAlchemy error, a driver error, ``OSError``); an error
            of our own tree is returned unchanged.
        where: the journal's path or location (named in the message).
    """
    if isinstance(exc, TradingBotError):
        return exc
    if isinstance(where, JournalLocation):
        path, name = where.path, where.name
    else:
        path, name = (where if isinstance(where, Path) else None), str(where)
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return translate(exc.orig, where)
    if isinstance(exc, sqlite3.Error):
        return _translate_sqlite(exc, path, name)
    if isinstance(exc, OSError):
        return _translate_os(exc, name)
    if type(exc).__name__ in _PG_CONFIG or type(exc.__cause__).__name__ in _PG_CONFIG:
        return ConfigError(f"journal {name}: {_first_line(exc)}; fix persistence.db_url (user, password, database)")
    return OperationalError(f"journal {name}: {_first_line(exc)}")


def _translate_sqlite(exc: sqlite3.Error, path: Path | None, name: str) -> TradingBotError:
    code = getattr(exc, "sqlite_errorname", "") or ""
    message = _first_line(exc)
    if code.startswith(_CORRUPT) or "not a database" in message or "malformed" in message:
        return ConfigError(f"journal {name} is not a usable SQLite database ({message}); {_MOVE_ASIDE}")
    if code.startswith(("SQLITE_CANTOPEN", *_IO)) and path is not None:
        try:
            check_sqlite_file(path, write=True)  # a directory in its place, a file as its directory, permissions
        except TradingBotError as found:
            return found
    if code.startswith(_READ_ONLY) or "readonly" in message:
        return OperationalError(
            f"journal {name} is read-only ({message}): check the file's owner and mode, an immutable flag "
            "(lsattr; chattr -i) and whether the file system is mounted read-only"
        )
    if code.startswith(_FULL) or "disk is full" in message:
        return OperationalError(f"journal {name}: the disk is full ({message}); free space on its file system")
    if code.startswith(_PERMISSION):
        return OperationalError(f"journal {name}: permission denied ({message}); fix the file's owner and mode")
    if code.startswith(_BUSY):
        return OperationalError(f"journal {name} is locked by another process ({message}); stop the other writer")
    return OperationalError(f"journal {name}: {message}")


def _translate_os(exc: OSError, name: str) -> TradingBotError:
    number = exc.errno
    detail = exc.strerror or str(exc)
    if number in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP):
        return ConfigError(f"journal {name}: {detail}; set bot.data_dir (or persistence.db_url) to a usable path")
    if number == errno.EACCES:
        return OperationalError(f"journal {name}: permission denied ({detail}); fix its owner and mode")
    if number == errno.EPERM:
        return OperationalError(
            f"journal {name}: {detail}: the file is immutable or append-only (lsattr shows it); chattr -i it"
        )
    if number == errno.EROFS:
        return OperationalError(
            f"journal {name}: the file system is read-only; mount it read-write or move the journal"
        )
    if number in (errno.ENOSPC, errno.EDQUOT):
        return OperationalError(f"journal {name}: the disk is full ({detail}); free space on its file system")
    return OperationalError(f"journal {name}: {detail}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
