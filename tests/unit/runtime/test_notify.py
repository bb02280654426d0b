"""systemd notifications over a real unix datagram socket the test reads, and the shipped unit file."""

from __future__ import annotations

import configparser
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from trading_bot.runtime.notify import SystemdNotifier

ROOT = Path(__file__).resolve().parents[3]
UNIT = ROOT / "deploy" / "trading-bot.service"


class FakeTime:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    try:
        yield str(path), sock
    finally:
        sock.close()


def received(sock: socket.socket) -> list[str]:
    """Return every datagram waiting on ``sock``."""
    messages: list[str] = []
    sock.setblocking(False)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(2)
    return messages


def test_from_env_without_notify_socket_returns_none() -> None:
    assert SystemdNotifier.from_env({}) is None
    assert SystemdNotifier.from_env({"NOTIFY_SOCKET": ""}) is None


def test_from_env_with_unsupported_socket_returns_none() -> None:
    assert SystemdNotifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"}) is None


def test_notify_sends_ready_status_and_stopping_as_datagrams(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier is not None

    notifier.notify("READY=1")
    notifier.notify("STATUS=trading BTC/USDT with grid")
    notifier("STOPPING=1")
    notifier.close()

    assert received(sock) == ["READY=1", "STATUS=trading BTC/USDT with grid", "STOPPING=1"]


def test_watchdog_interval_comes_from_watchdog_usec_for_this_pid() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = SystemdNotifier.from_env(env)
    assert notifier is not None
    assert notifier.watchdog_interval_s == 30.0
    assert notifier.watchdog_ping_interval_s == 15.0


def test_watchdog_for_another_pid_is_ignored() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    notifier = SystemdNotifier.from_env(env)
    assert notifier is not None
    assert notifier.watchdog_interval_s is None


def test_watchdog_pings_are_sent_at_most_every_half_interval(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    clock = FakeTime()
    notifier = SystemdNotifier(path, watchdog_interval_s=30.0, monotonic=clock)

    for _ in range(14):  # one heartbeat per second for 14 s: only the first ping goes out
        notifier.notify("WATCHDOG=1")
        clock.now += 1
    notifier.notify("STATUS=still here")  # other messages are never throttled
    clock.now += 1  # 15 s after the first ping
    notifier.notify("WATCHDOG=1")
    notifier.notify("WATCHDOG=1")

    assert received(sock) == ["WATCHDOG=1", "STATUS=still here", "WATCHDOG=1"]
    notifier.close()


def test_watchdog_pings_without_a_watchdog_are_not_sent(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = SystemdNotifier(path)

    notifier.notify("WATCHDOG=1")
    notifier.notify("READY=1")

    assert received(sock) == ["READY=1"]
    notifier.close()


def test_notify_reaches_an_abstract_socket_named_with_at() -> None:
    name = f"trading-bot-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    try:
        notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier is not None

        notifier.notify("READY=1")

        sock.settimeout(2)
        assert sock.recv(4096) == b"READY=1"
        notifier.close()
    finally:
        sock.close()


def test_notify_when_socket_is_gone_never_raises_and_logs_once(tmp_path: Path) -> None:
    notifier = SystemdNotifier(str(tmp_path / "missing.sock"))

    with capture_logs() as logs:
        notifier.notify("READY=1")
        notifier.notify("STATUS=x")

    assert [e["event"] for e in logs] == ["systemd_notify_failed"]
    assert notifier.sent == 0


def _unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(UNIT, encoding="utf-8")
    return parser


def test_service_unit_is_type_notify_with_watchdog_and_restart_on_failure() -> None:
    service = _unit()["Service"]

    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["WatchdogSec"] == "30"
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"] == "5"
    assert service["KillSignal"] == "SIGTERM"
    assert service["TimeoutStopSec"] == "30"


def test_service_unit_runs_as_a_dedicated_user_from_the_venv_with_json_logs() -> None:
    service = _unit()["Service"]

    assert service["User"] == "tradingbot"
    assert service["DynamicUser"] == "no"
    assert service["WorkingDirectory"] == "/opt/trading-bot"
    exec_start = service["ExecStart"].split()
    assert exec_start[0].endswith("/bin/python")
    assert exec_start[1].endswith("runbot.py")
    assert exec_start[2:] == ["--config", "/etc/trading-bot/config.json", "--log-format", "json"]


def test_service_unit_loads_the_credentials_the_config_loader_reads() -> None:
    from trading_bot.config import SECRET_FIELDS

    text = UNIT.read_text(encoding="utf-8")
    loaded = {
        line.split("=", 1)[1].split(":", 1)[0] for line in text.splitlines() if line.startswith("LoadCredential=")
    }

    assert loaded == {"exchange_api_key", "exchange_secret"}
    assert loaded <= {f"exchange_{name}" for name in SECRET_FIELDS}
    assert "#EnvironmentFile=/etc/trading-bot/env" in text


def test_service_unit_is_hardened_and_can_write_only_its_data_dir() -> None:
    service = _unit()["Service"]

    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    assert service["ReadWritePaths"] == "/var/lib/trading-bot"
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"
