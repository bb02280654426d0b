"""Files the bot reads from or writes for the user: bounded reads, private writes, path checks.

* ``read_regular_text`` reads a small text file (a config, ``.env``, a credential) without ever
  blocking: a FIFO, a device or a directory is refused before a byte is read, and so is a file
  above its size limit.
* ``open_private`` opens a file to write (a report, a CSV export, downloaded data) readable by its
  owner only: created ``0600``; a file it truncates is set to ``0600`` too (it holds only what we
  write), while a file it appends to keeps its mode. ``private_dir`` creates directories ``0700``.
* ``output_path_problem`` tells, before a long run, whether an output path can be written, so the
  CLI can refuse a bad argument at once (exit 2) instead of failing at the end.
* ``open_data_text`` opens a market-data file (CSV, gzip-compressed or not, told by its magic bytes) as
  UTF-8 text for the replay, backtest and emulator readers.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
from pathlib import Path
from typing import Literal
from typing import TextIO

from trading_bot.errors import DataError

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "NotARegularFileError",
    "open_data_text",
    "open_private",
    "output_path_problem",
    "private_dir",
    "read_regular_text",
]

PRIVATE_FILE_MODE = 0o600
"""Mode of every file the bot creates for the user: owner read/write only."""
PRIVATE_DIR_MODE = 0o700
"""Mode of every directory the bot creates for the user."""


class NotARegularFileError(OSError):
    """The path is a FIFO, a device, a socket or a directory, or a file larger than allowed."""


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_regular_text(path: Path, *, max_bytes: int) -> str:
    """Return the UTF-8 text of a small regular file, never blocking on a FIFO or a device.

    Args:
        path: the file.
        max_bytes: the largest size accepted, bytes.

    Raises:
        FileNotFoundError: the file does not exist.
        NotARegularFileError: ``path`` is a directory, FIFO, device or socket, or above ``max_bytes``
            (the message says which).
        OSError: it cannot be opened or read (``strerror`` says why).
        UnicodeDecodeError: it is not UTF-8 text.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFileError(f"{path} is {_kind(info.st_mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise NotARegularFileError(f"{path} is larger than {max_bytes:,} bytes")
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8")


def open_private(
    path: Path, mode: Literal["w", "a"] = "w", *, encoding: str = "utf-8", newline: str | None = None
) -> TextIO:
    """Open ``path`` for writing text, created readable and writable by its owner only (``0600``).

    Args:
        path: the file; its directory must exist.
        mode: ``"w"`` truncates (and sets an existing regular file to ``0600``), ``"a"`` appends (an
            existing file keeps its mode).
        encoding: the text encoding.
        newline: as for ``open`` (``""`` for the csv module).

    Raises:
        OSError: the file cannot be opened (a directory, permission denied, ...).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if mode == "w" else os.O_APPEND)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        if mode == "w" and stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, PRIVATE_FILE_MODE)
        return open(fd, mode, encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        raise


def private_dir(path: Path) -> None:
    """Create directory ``path`` and its missing parents with mode ``0700`` (existing ones are left alone).

    Raises:
        OSError: it cannot be created (a file in the way, permission denied, ...).
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)


def output_path_problem(path: Path, *, directory: bool) -> str | None:
    """Return why ``path`` cannot be written as an output directory or file, or None if it looks writable.

    An existing path must be of the right kind (a directory; or for a file neither a directory nor a FIFO
    or socket, which would block the writer) and writable; a missing one needs its nearest existing
    ancestor to be a writable directory. Permissions are checked with ``os.access`` (root passes them);
    what only writing can tell (a full disk) is left to the write.

    Args:
        path: the output path given by the user.
        directory: True for an output directory (``backtest --report``), False for a file.
    """
    try:
        return _output_path_problem(path, directory)
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long, a search permission denied
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"cannot use {str(path)!r}: {reason}"


def _output_path_problem(path: Path, directory: bool) -> str | None:
    if "\0" in str(path):
        return f"{str(path)!r} contains a NUL byte"
    if path.exists():
        if directory and not path.is_dir():
            return f"{path} exists and is not a directory; give a directory (it is created if missing)"
        if not directory and path.is_dir():
            return f"{path} is a directory; give a file name"
        mode = path.stat().st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):  # opening one to write waits for a reader
            return f"{path} is {_kind(mode)}; give a regular file"
        if not os.access(path, os.W_OK | (os.X_OK if directory else 0)):
            return f"no permission to write {path}"
        return None
    ancestor = path.parent
    while not ancestor.exists() and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is not a directory, so {path} cannot be created"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"no permission to create {path} in {ancestor}"
    return None


def open_data_text(path: Path, what: str = "data file") -> TextIO:
    """Open the market-data file ``path`` as UTF-8 text with universal newlines off (for ``csv``);
    gzip-compressed when it starts with the gzip magic bytes, whatever its name.

    Raises:
        DataError: ``path`` is missing or not a regular file, or cannot be read (one line naming it and
            ``what`` it is, e.g. "replay file").
    """
    try:
        if not path.is_file():
            raise DataError(f"{path}: {what} not found")
        with path.open("rb") as raw:
            magic = raw.read(2)
    except OSError as exc:  # a name too long, a search permission denied (is_file raises those)
        raise DataError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")
