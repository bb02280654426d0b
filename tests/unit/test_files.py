"""trading_bot.files: reads that never block, files written 0600 for their owner, output paths checked early."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from trading_bot.files import NotARegularFileError
from trading_bot.files import open_private
from trading_bot.files import output_path_problem
from trading_bot.files import private_dir
from trading_bot.files import read_regular_text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual umask outside systemd: plain open() would create 0644
    yield
    os.umask(old)


def test_open_private_creates_the_file_0600_where_open_would_make_it_0644(tmp_path: Path) -> None:
    with open_private(tmp_path / "trades.csv") as handle:
        handle.write("a,b\n")
    assert _mode(tmp_path / "trades.csv") == 0o600
    assert (tmp_path / "trades.csv").read_text() == "a,b\n"


def test_open_private_truncating_an_existing_0644_file_makes_it_0600(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("old content that is longer")
    path.chmod(0o644)
    with open_private(path) as handle:
        handle.write("new")
    assert (_mode(path), path.read_text()) == (0o600, "new")


def test_open_private_appending_keeps_content_and_the_existing_mode(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("header\n")
    path.chmod(0o640)
    with open_private(path, "a") as handle:
        handle.write("row\n")
    assert (_mode(path), path.read_text()) == (0o640, "header\nrow\n")


def test_private_dir_creates_missing_directories_0700(tmp_path: Path) -> None:
    private_dir(tmp_path / "a" / "b")
    assert (_mode(tmp_path / "a"), _mode(tmp_path / "a" / "b")) == (0o700, 0o700)
    private_dir(tmp_path / "a" / "b")  # idempotent


def test_read_regular_text_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFileError, match="is a FIFO"):
        read_regular_text(fifo, max_bytes=100)


def test_read_regular_text_refuses_devices_directories_and_big_files(tmp_path: Path) -> None:
    with pytest.raises(NotARegularFileError, match="character device"):
        read_regular_text(Path("/dev/zero"), max_bytes=100)
    with pytest.raises(NotARegularFileError, match="a directory"):
        read_regular_text(tmp_path, max_bytes=100)
    (tmp_path / "big").write_text("x" * 101)
    with pytest.raises(NotARegularFileError, match="larger than 100 bytes"):
        read_regular_text(tmp_path / "big", max_bytes=100)
    (tmp_path / "ok").write_text("x" * 100)
    assert read_regular_text(tmp_path / "ok", max_bytes=100) == "x" * 100


def test_output_path_problem_for_directories_and_files(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("")
    assert output_path_problem(tmp_path / "new" / "dir", directory=True) is None
    assert output_path_problem(tmp_path, directory=True) is None
    assert output_path_problem(tmp_path / "new.csv", directory=False) is None
    assert output_path_problem(file, directory=False) is None
    assert "is not a directory" in str(output_path_problem(file, directory=True))
    assert "is a directory; give a file name" in str(output_path_problem(tmp_path, directory=False))
    assert f"{file} is not a directory, so" in str(output_path_problem(file / "x" / "y", directory=True))
    assert "contains a NUL byte" in str(output_path_problem(Path("a\0b"), directory=False))
