"""deploy/: the compose file (parsed: services, healthchecks, env names, no secret in it), the
nginx config (structure, the SSE locations), the systemd units, and the backup script run for
real against PostgreSQL with a restore drill into a scratch database."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.config import load_config
from storage.db import Database
from tests.conftest import ROOT, postgres_url

DEPLOY = ROOT / "deploy"
SECRETS = {"PGPASSWORD", "LAWBOT_WEB_SECRET", "LAWBOT_CONSOLE_SECRET"}
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


@pytest.fixture(name="compose", scope="module")
def compose_fixture() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def test_compose_has_postgresql_workers_nginx_and_a_one_shot_migration(
    compose: dict[str, Any],
) -> None:
    services = _services(compose)
    assert set(services) == {"db", "migrate", "worker", "nginx"}
    assert services["db"]["image"].startswith("postgres:")
    assert services["worker"]["command"][:2] == ["lawbot", "serve"]
    assert "--log-json" in services["worker"]["command"]
    assert services["worker"]["deploy"]["replicas"] == "${LAWBOT_WORKERS:-3}"
    assert services["migrate"]["command"] == ["lawbot", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    worker_deps = services["worker"]["depends_on"]
    assert worker_deps["db"]["condition"] == "service_healthy"
    assert worker_deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["nginx"]["depends_on"]["worker"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_healthcheck_and_the_workers_probe_readyz(
    compose: dict[str, Any],
) -> None:
    services = _services(compose)
    for name, service in services.items():
        if service.get("restart") == "no":
            continue  # the one-shot migration ends; it has nothing to probe
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"][0] == "CMD"
        assert {"interval", "timeout", "retries"} <= set(check)
    assert "pg_isready" in services["db"]["healthcheck"]["test"]
    probe = " ".join(services["worker"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8080/readyz" in probe
    assert "/readyz" in " ".join(services["nginx"]["healthcheck"]["test"])
    # the worker's probe is valid Python that exits non-zero unless /readyz says 200
    compile(services["worker"]["healthcheck"]["test"][-1], "healthcheck", "exec")


def test_the_workers_get_their_secrets_from_the_environment_never_from_the_file(
    compose: dict[str, Any],
) -> None:
    services = _services(compose)
    for name in ("worker", "migrate"):
        env = services[name]["environment"]
        assert set(env) >= SECRETS, name
        assert env["LAWBOT_CONFIG"] == "/etc/lawbot/config.toml"
        for key in SECRETS:
            assert INTERPOLATION.fullmatch(env[key]), f"{name}.{key} is not taken from .env"
    assert INTERPOLATION.fullmatch(services["db"]["environment"]["POSTGRES_PASSWORD"])
    # every variable compose reads is listed in .env.example, and nothing more
    raw = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    used = set(INTERPOLATION.findall(raw))
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    listed = {line.split("=", 1)[0] for line in example.splitlines() if re.match(r"[A-Z]", line)}
    assert used == listed
    assert all(
        line.endswith("=") for line in example.splitlines() if line.split("=")[0] in SECRETS
    )


def test_the_compose_config_file_loads_and_names_the_db_service_without_a_password(
    compose: dict[str, Any],
) -> None:
    config = load_config(DEPLOY / "config.toml")
    url = make_url(config.database.url)
    assert url.get_backend_name() == "postgresql"
    assert url.host == "db"
    assert url.host in _services(compose)
    assert url.password is None
    assert config.scheduler.enabled
    assert config.console.https_only
    assert any(
        v.endswith(":/etc/lawbot/config.toml:ro") for v in _services(compose)["worker"]["volumes"]
    )


def _blocks(conf: str) -> list[tuple[str, str]]:
    """Every `head { body }` block of an nginx config (nested ones too), in order."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, int]] = []
    head_start = 0
    for i, char in enumerate(conf):
        if char == "{":
            head = conf[head_start:i].strip().splitlines()[-1].strip()
            stack.append((head, i + 1))
            head_start = i + 1
        elif char == "}":
            head, start = stack.pop()
            found.append((head, conf[start:i]))
            head_start = i + 1
        elif char == ";":
            head_start = i + 1
    assert not stack, "unbalanced braces"
    return found


@pytest.fixture(name="nginx", scope="module")
def nginx_fixture() -> list[tuple[str, str]]:
    raw = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    conf = "\n".join(line.split("#", 1)[0] for line in raw.splitlines())
    return _blocks(conf)


def test_nginx_balances_over_the_worker_upstream(
    nginx: list[tuple[str, str]], compose: dict[str, Any]
) -> None:
    heads = [head for head, _ in nginx]
    assert {"events", "http", "server"} <= set(heads)
    [upstream] = [body for head, body in nginx if head.startswith("upstream ")]
    name = next(head for head, _ in nginx if head.startswith("upstream ")).split()[1]
    assert re.search(r"^\s*server worker:8080\b", upstream, re.MULTILINE)
    assert "worker" in _services(compose)
    assert "0.0.0.0:8080" in _services(compose)["worker"]["command"][-2]
    [root] = [body for head, body in nginx if head == "location /"]
    assert f"proxy_pass http://{name};" in root


@pytest.mark.parametrize(
    ("path", "streams"),
    [
        ("/api/v1/users/partner:u-1/stream", True),
        ("/api/v1/users/abc/stream", True),
        ("/chat/api/stream", True),
        ("/api/v1/users/abc/messages", False),
        ("/api/v1/messages", False),
        ("/chat/api/messages", False),
    ],
)
def test_the_sse_paths_and_only_they_are_unbuffered(
    nginx: list[tuple[str, str]], path: str, streams: bool
) -> None:
    unbuffered = [
        head
        for head, body in nginx
        if head.startswith("location") and "proxy_buffering off;" in body
    ]
    assert len(unbuffered) == 2

    def matches(head: str) -> bool:
        parts = head.split()
        if parts[1] == "=":
            return parts[2] == path
        if parts[1] == "~":
            return re.search(parts[2], path) is not None
        return path.startswith(parts[1])

    assert any(matches(h) for h in unbuffered) is streams
    for head, body in nginx:
        if head in unbuffered:
            assert "proxy_read_timeout 1h;" in body
            assert "proxy_pass http://lawbot_workers;" in body


def test_nginx_does_not_expose_the_metrics(nginx: list[tuple[str, str]]) -> None:
    [body] = [body for head, body in nginx if head == "location = /metrics"]
    assert "return 404;" in body


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text(encoding="utf-8"))
    return parser


def test_the_worker_unit_serves_on_its_instance_port_after_the_migration() -> None:
    unit = _unit("lawbot-serve@.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("lawbot serve --listen 127.0.0.1:%i --log-json")
    assert service["EnvironmentFile"] == "/etc/lawbot/lawbot.env"
    assert service["Restart"] == "always"
    assert "lawbot-migrate.service" in unit["Unit"]["Requires"]
    assert "lawbot-migrate.service" in unit["Unit"]["After"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert _unit("lawbot-migrate.service")["Service"]["ExecStart"].endswith("lawbot db upgrade")


def test_the_backup_timer_runs_the_backup_service_nightly() -> None:
    timer = _unit("lawbot-backup.timer")
    assert timer["Timer"]["Unit"] == "lawbot-backup.service"
    assert timer["Timer"]["OnCalendar"] == "*-*-* 02:30:00"
    assert timer["Timer"]["Persistent"] == "true"
    service = _unit("lawbot-backup.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"].endswith("deploy/systemd/lawbot-backup.sh")


@pytest.mark.backend("postgresql")
def test_the_backup_script_dumps_and_the_restore_drill_gets_the_rows_back(
    db: Database, tmp_path: Path
) -> None:
    url = postgres_url()
    assert url is not None
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE drill_probe (n int)"))
        connection.execute(text("INSERT INTO drill_probe VALUES (1), (2), (3)"))
    backups = tmp_path / "backups"
    old = backups / "lawbot-20000101T000000Z.dump"
    backups.mkdir()
    old.write_bytes(b"old")
    os.utime(old, (946684800, 946684800))
    env = {**os.environ, "LAWBOT_BACKUP_DATABASE": url, "LAWBOT_BACKUP_DIR": str(backups)}
    run = subprocess.run(
        ["sh", str(DEPLOY / "systemd" / "lawbot-backup.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    [dump] = sorted(backups.glob("lawbot-*.dump"))  # the 2000 one is past the 14 days
    assert dump != old
    assert (dump.stat().st_mode & 0o077) == 0
    assert not list(backups.glob(".*partial"))
    drill = f"lawbot_drill_{uuid.uuid4().hex[:8]}"
    admin = Database(url)
    try:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'CREATE DATABASE "{drill}"'))
        drill_url = make_url(url).set(database=drill).render_as_string(hide_password=False)
        restore = subprocess.run(
            ["pg_restore", "--no-owner", f"--dbname={drill_url}", str(dump)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert restore.returncode == 0, restore.stderr
        restored = Database(drill_url)
        try:
            with restored.engine.connect() as c:
                assert c.execute(text("SELECT sum(n) FROM drill_probe")).scalar() == 6
                assert c.execute(text("SELECT version_num FROM alembic_version")).scalar()
        finally:
            restored.dispose()
    finally:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{drill}"'))
        admin.dispose()
