"""The doctor's checks of a systemd unit: ExecStart runs an existing python and runbot.py, a Restart policy,
an existing WorkingDirectory.

The unit is parsed as systemd reads it, as far as these keys need: ``[Section]`` headers, ``Key=Value``
lines (the last assignment wins), ``#``/``;`` comments, a trailing backslash continuing a line.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from trading_bot.runtime.doctor.report import Check
from trading_bot.runtime.doctor.report import failed
from trading_bot.runtime.doctor.report import passed

__all__ = ["INSTALLED_UNIT", "RESTART_POLICIES", "check_unit", "parse_unit"]

INSTALLED_UNIT = Path("/etc/systemd/system/trading-bot.service")
"""Where ``deploy/README.md`` installs the unit; checked when no ``--unit`` is given and it exists."""

RESTART_POLICIES = frozenset({"on-failure", "always", "on-abnormal", "on-watchdog"})
"""Restart= values that bring the bot back after a crash or a watchdog kill."""

_PYTHON = re.compile(r"python[0-9.]*")
_EXEC_PREFIXES = "@-:+!"


def parse_unit(text: str) -> dict[str, dict[str, str]]:
    """Return ``{section: {key: value}}`` of a unit file's text (the last assignment of a key wins)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    pending = ""
    for raw in text.splitlines():
        line = (pending + raw.strip()) if pending else raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
        elif "=" in line and current is not None:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return sections


def check_unit(path: Path) -> list[Check]:
    """Return the unit's checks: ExecStart, Restart, WorkingDirectory (one failed check if it cannot be read)."""
    name = f"systemd unit {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [failed(name, f"cannot read it: {exc}", "give a readable unit file with --unit FILE")]
    service = parse_unit(text).get("Service")
    if service is None:
        return [failed(name, "no [Service] section", "start from deploy/trading-bot.service")]
    return [_exec_start(service), _restart(service), _working_directory(service)]


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _exec_start(service: dict[str, str]) -> Check:
    name = "systemd unit: ExecStart"
    fix = "point ExecStart at the venv's python and runbot.py, e.g. /opt/trading-bot/.venv/bin/python " + (
        "/opt/trading-bot/runbot.py --config /etc/trading-bot/config.json"
    )
    value = service.get("ExecStart", "")
    try:
        words = shlex.split(value.lstrip(_EXEC_PREFIXES))
    except ValueError as exc:
        return failed(name, f"cannot parse {value!r}: {exc}", fix)
    if not words:
        return failed(name, "no ExecStart=", fix)
    program = Path(words[0])
    if not program.is_absolute():
        return failed(name, f"{program}: systemd needs an absolute path to the program", fix)
    if not _executable(program):
        return failed(name, f"{program}: no such executable file", fix)
    problems: list[str] = []
    shown = str(program)
    if _PYTHON.fullmatch(program.name):
        script = next((w for w in words[1:] if not w.startswith("-")), None)
        if script is None:
            problems.append(f"{program} is given no script")
        elif not Path(script).is_file():
            problems.append(f"the script {script} does not exist")
        else:
            shown += f" {script}"
    config = _option(words, "--config")
    if config is not None and not Path(config).is_file():
        problems.append(f"--config {config} does not exist")
    if problems:
        return failed(name, "; ".join(problems), fix)
    return passed(name, f"runs {shown}" + (f" --config {config}" if config is not None else ""))


def _option(words: list[str], flag: str) -> str | None:
    for i, word in enumerate(words):
        if word == flag and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(flag + "="):
            return word[len(flag) + 1 :]
    return None


def _restart(service: dict[str, str]) -> Check:
    name = "systemd unit: Restart"
    value = service.get("Restart", "no")
    if value in RESTART_POLICIES:
        prevent = service.get("RestartPreventExitStatus", "")
        note = "" if "2" in prevent.split() else " (consider RestartPreventExitStatus=2: a config error never heals)"
        return passed(name, f"Restart={value}{note}")
    return failed(
        name,
        f"Restart={value}: a crashed or watchdog-killed bot stays down",
        "set Restart=on-failure (with RestartSec=5 and RestartPreventExitStatus=2)",
    )


def _working_directory(service: dict[str, str]) -> Check:
    name = "systemd unit: WorkingDirectory"
    value = service.get("WorkingDirectory")
    if not value:
        return failed(
            name,
            "not set: the bot would run in / and a relative bot.data_dir would point there",
            "set WorkingDirectory= to the install directory (e.g. /opt/trading-bot)",
        )
    directory = Path(value.lstrip("-"))
    if value.startswith("~") or directory.is_dir():
        return passed(name, f"{value} exists")
    return failed(name, f"{directory} does not exist", "create it, or set WorkingDirectory= to the install directory")
