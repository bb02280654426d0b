"""Running the CLI for the fuzz suite (in-process and as a subprocess) and the one property every run must keep.

The property (``assert_clean_exit``): exit code 0, 1 or 2; on 1 or 2 exactly one ``error:`` line on stderr;
never a Python traceback; never a hang (every run is bounded: ``Hang`` in-process, ``subprocess``'s
timeout outside).

``run_inprocess`` calls ``trading_bot.cli.main(argv)`` as ``runbot.py`` would, with a clean environment
(no inherited ``TRADING_BOT__`` variables) plus ``env``, in ``cwd``, stdout and stderr captured, the stop
signal handlers put back afterwards (the ``run`` command installs its own), and ``SIGALRM`` as the
watchdog. An exception escaping ``main`` is what the real process would print as a traceback: it is
returned as exit code 1 with the formatted traceback on stderr, so the property reports it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from hypothesis import settings

from trading_bot.cli import main
from trading_bot.stop_signals import STOP_SIGNALS

__all__ = [
    "ROOT",
    "SAMPLE",
    "Hang",
    "Outcome",
    "assert_clean_exit",
    "budget",
    "clean_environ",
    "run_inprocess",
    "run_subprocess",
    "serve_briefly",
    "small_samples",
]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "trading_bot" / "sample_data"
TRACEBACK = "Traceback (most recent call last)"
INPROCESS_TIMEOUT_S = 20.0
SUBPROCESS_TIMEOUT_S = 60.0
_DROPPED = ("TRADING_BOT__", "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_")


def budget(weight: float) -> settings:
    """Return settings with ``weight`` times the loaded profile's ``max_examples`` (at least 1)."""
    return settings(max_examples=max(1, round(settings.default.max_examples * weight)))


class Hang(BaseException):
    """An in-process run did not finish within its time limit (a BaseException: ``except Exception`` lets it by)."""


@dataclass(frozen=True)
class Outcome:
    """How one run ended: exit code (-9 = killed after the timeout), stdout, stderr, the command line."""

    code: int
    stdout: str
    stderr: str
    argv: tuple[str, ...]


def assert_clean_exit(outcome: Outcome, *, allowed: Sequence[int] = (0, 1, 2)) -> None:
    """Assert the fuzz property: a documented exit code, one ``error:`` line when failing, no traceback."""
    where = f"argv={list(outcome.argv)!r}\nexit {outcome.code}\nstderr:\n{outcome.stderr[-3000:]}"
    assert TRACEBACK not in outcome.stderr + outcome.stdout, where
    assert outcome.code != -9, f"hang: {where}"
    assert outcome.code in allowed, where
    if outcome.code in (1, 2):
        errors = [line for line in outcome.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, where


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return this process's environment without bot settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    env.update(extra or {})
    return env


@contextlib.contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)  # again every second: a task may swallow one Hang
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


async def serve_briefly(config: object) -> None:
    """Stand-in for ``run_emulator`` in-process: the real start (replay loaded, port bound, options printed), then stop.

    The real command serves until a signal; patched in with ``mock.patch.object(server, "run_emulator", ...)``.
    """
    from trading_bot.emulator.server import BinanceEmulator

    async with BinanceEmulator(config) as emulator:  # type: ignore[arg-type]
        print(json.dumps(emulator.ccxt_options()), flush=True)


def run_inprocess(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout_s: float = INPROCESS_TIMEOUT_S
) -> Outcome:
    """Run ``runbot.py ARGV`` in this process (see the module docstring); a hang fails the calling test."""
    out, err = io.StringIO(), io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    code: int
    try:
        with (
            _environ(clean_environ(env)),
            contextlib.chdir(cwd),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            _watchdog(timeout_s),
        ):
            try:
                main(list(argv))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            except Hang:
                raise
            except BaseException:  # what the real process would die of, with a traceback
                err.write(traceback.format_exc())
                code = 1
    except Hang:
        raise AssertionError(f"hang: runbot.py {' '.join(argv)} did not finish within {timeout_s} s") from None
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return Outcome(code, out.getvalue(), err.getvalue(), tuple(argv))


def run_subprocess(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout_s: float = SUBPROCESS_TIMEOUT_S
) -> Outcome:
    """Run ``python runbot.py ARGV`` as a real process; a run past ``timeout_s`` is killed and reported as -9."""
    command = [sys.executable, str(ROOT / "runbot.py"), *argv]
    try:
        proc = subprocess.run(
            command, cwd=cwd, env=clean_environ(env), capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        return Outcome(-9, _text(exc.stdout), _text(exc.stderr), tuple(argv))
    return Outcome(proc.returncode, _text(proc.stdout), _text(proc.stderr), tuple(argv))


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def small_samples(directory: Path, rows: int = 300) -> dict[str, Path]:
    """Write the first ``rows`` rows of each bundled sample file to ``directory`` (plain CSV, names kept).

    Returns ``{"quotes": ..., "trades": ..., "bars": ...}``: enough data for a real run that ends in well
    under a second.
    """
    import gzip

    found: dict[str, Path] = {}
    for kind, pattern in (("quotes", "*_quotes_*.csv.gz"), ("trades", "*_trades_*.csv.gz"), ("bars", "*BTCUSDT_1m_*")):
        source = sorted(SAMPLE.glob(pattern))[0]
        with gzip.open(source, "rt", encoding="utf-8") as handle:
            lines = [line for _, line in zip(range(rows + 1), handle, strict=False)]
        target = directory / source.name.removesuffix(".gz")
        target.write_text("".join(lines), encoding="utf-8")
        found[kind] = target
    return found
