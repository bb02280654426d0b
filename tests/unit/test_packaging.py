"""The container image and the compose deployment (issue 14, item 6), checked without Docker.

Guards: the image runs as a non-root user, its HEALTHCHECK asks ``/health`` on the monitor's port, its
default command is an offline paper replay that exits 0; the entry point turns ``PGPASSWORD_FILE`` into
``PGPASSWORD``; the compose file runs the bot, PostgreSQL and Prometheus and never holds a literal
password (every secret is a file); Prometheus reads its bearer token from a file; ``.dockerignore`` keeps
secrets and local state out of the build context.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY", re.IGNORECASE)


def _instructions(stage: str = "last") -> list[tuple[str, str]]:
    """Return ``(INSTRUCTION, arguments)`` of the Dockerfile's last stage, continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    parsed = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]
    starts = [i for i, (op, _) in enumerate(parsed) if op == "FROM"]
    return parsed[starts[-1] :] if stage == "last" else parsed


def _last(op: str) -> str:
    values = [args for name, args in _instructions() if name == op]
    assert values, f"the final stage has no {op}"
    return values[-1]


def test_image_runs_as_a_non_root_user_on_python_3_11_slim() -> None:
    user = _last("USER").split(":")[0]

    assert user not in ("root", "0", "")
    assert _last("FROM").startswith("python:3.11-slim")
    assert any(op == "RUN" and 'pip install ".' in args for op, args in _instructions("all"))
    assert '["/data"]' in _last("VOLUME")


def test_image_healthcheck_asks_the_monitor_health_endpoint() -> None:
    healthcheck = _last("HEALTHCHECK")

    assert "CMD" in healthcheck
    assert "http://127.0.0.1:8787/health" in healthcheck
    assert "--timeout=" in healthcheck


def test_image_default_command_is_an_offline_paper_replay_that_exits_0(tmp_path: Path) -> None:
    command: list[str] = json.loads(_last("CMD"))
    args = [a.replace("/app/sample_data", str(ROOT / "trading_bot" / "sample_data")) for a in command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_BOT__")}
    env["TRADING_BOT__BOT__DATA_DIR"] = str(tmp_path / "data")  # the image's ENV

    result = subprocess.run(
        [sys.executable, str(ROOT / "runbot.py"), *args, "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert "--replay" in command
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["fills"] > 0


def test_entrypoint_exports_the_postgres_password_from_its_file_and_execs_runbot(tmp_path: Path) -> None:
    stub = tmp_path / "bin" / "python"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\necho "args=$*"\necho "pw=$PGPASSWORD"\necho "file=${PGPASSWORD_FILE:-unset}"\n')
    stub.chmod(0o755)
    secret = tmp_path / "postgres_password"
    secret.write_text("s3cret-from-file\n")
    env = {"PATH": f"{stub.parent}:/usr/bin:/bin", "PGPASSWORD_FILE": str(secret)}

    result = subprocess.run(
        ["/bin/sh", str(ROOT / "deploy" / "docker-entrypoint.sh"), "doctor", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["args=/app/runbot.py doctor --json", "pw=s3cret-from-file", "file=unset"]


def _compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_compose_names_the_bot_postgres_and_prometheus_services() -> None:
    text = COMPOSE.read_text()
    for service in ("bot", "postgres", "prometheus"):
        assert re.search(rf"^  {service}:$", text, re.MULTILINE), service  # without PyYAML too


def test_compose_parses_and_wires_the_journal_and_secrets_as_files() -> None:
    compose = _compose()
    services = compose["services"]
    bot = services["bot"]["environment"]

    assert set(services) == {"bot", "postgres", "prometheus"}
    assert bot["TRADING_BOT__PERSISTENCE__DB_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:" in bot["TRADING_BOT__PERSISTENCE__DB_URL"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert all(set(spec) == {"file"} for spec in compose["secrets"].values())
    assert all(port.startswith("127.0.0.1:") for s in services.values() for port in s.get("ports", []))


def test_compose_and_prometheus_never_hold_a_literal_password() -> None:
    text = COMPOSE.read_text()

    assert not re.search(r"postgres(?:ql)?(?:\+asyncpg)?://[^/@\s:]+:[^@\s]+@", text)  # no user:password@ in a URL
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and not key.startswith("#") and SECRET_NAME.search(key) and not key.startswith("-"):
            assert key.endswith("_FILE") or value.strip() == "", line  # a file path, or a secrets: block
    prometheus = PROMETHEUS.read_text()
    assert "credentials_file: /run/secrets/monitor_token" in prometheus
    assert not re.search(r"^\s*(credentials|password|bearer_token):", prometheus, re.MULTILINE)


def test_prometheus_scrapes_the_bots_metrics_with_a_bearer_token_file() -> None:
    yaml = pytest.importorskip("yaml")
    (job,) = yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]

    assert job["metrics_path"] == "/metrics"
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/monitor_token"}
    assert job["static_configs"] == [{"targets": ["bot:8787"]}]


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())

    assert {".git", ".venv", ".env", "deploy/secrets", "var", "*.db"} <= ignored
