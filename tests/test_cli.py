"""The `riverwatch` command as a user runs it: separate processes, real databases."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=120
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_seed_and_station_commands(cli_env: dict[str, str]) -> None:
    first = run(cli_env, "seed", "plan")
    assert first.returncode == 0, first.stderr
    assert "9 zones, 18 sections, 54 targets" in first.stdout
    assert run(cli_env, "seed", "plan").returncode == 0

    added = run(cli_env, "station", "add", "ST-9", "--section", "S02", "--name", "永中 test")
    assert added.returncode == 0, added.stderr
    key = added.stdout.rsplit(":", 1)[1].strip()
    assert key.startswith("rw_")

    listed = run(cli_env, "station", "list")
    assert "ST-9\tS02" in listed.stdout

    rotated = run(cli_env, "station", "rotate-key", "ST-9")
    assert rotated.returncode == 0
    assert rotated.stdout.rsplit(":", 1)[1].strip() not in ("", key)

    missing = run(cli_env, "station", "rotate-key", "NOPE")
    assert missing.returncode == 3  # refused: no such station
    assert "no station 'NOPE'" in missing.stderr
    assert "Traceback" not in missing.stderr


def wait_ready(base: str, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become ready")


def test_serve_demo_on_the_embedded_default() -> None:
    """The README's first command: no database configured; the plan served, the simulated
    gateway feeding it, and its alerts arriving at the local SMS stand-in."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="rw-", dir="/tmp") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RIVERWATCH_")}
        env["RIVERWATCH_DATA_DIR"] = str(Path(tmp) / "data")
        env["RIVERWATCH_QUIET_HOURS"] = ""  # whatever the hour, SMS go out at once
        log = Path(tmp) / "serve.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--demo", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc)
            sections = httpx.get(f"{base}/api/v1/sections").json()
            assert len(sections) == 18
            assert {s["control_level"] for s in sections} == {"national", "provincial", "municipal"}

            def fed() -> bool:
                status = httpx.get(f"{base}/api/v1/status/sections").json()["sections"]
                return all(s["last_reading"] for s in status)

            wait_until(fed)
            gateway = re.search(r"(http://127\.0\.0\.1:\d+)/messages", log.read_text())
            assert gateway, log.read_text()
            # 2020's class-V sections start near class V: some chief hears of it.
            wait_until(lambda: httpx.get(f"{gateway[1]}/messages").json(), seconds=60)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        assert proc.returncode == 0, log.read_text()[-3000:]
        # The embedded server stopped with the service: no postmaster left behind.
        assert not (Path(tmp) / "data" / "pgdata" / "postmaster.pid").exists()


def wait_until(check: Callable[[], object], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError("timed out")


def test_import_command(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run(cli_env, "seed", "plan").returncode == 0
    assert run(cli_env, "station", "add", "ST-I", "--section", "S05", "--name", "x").returncode == 0
    path = tmp_path / "readings.csv"
    path.write_text(
        "station,time,nh3n,tp\n"
        "ST-I,2025-05-01T08:00:00+08:00,0.4,0.1\n"
        "ST-I,2025-05-01T12:00:00+08:00,oops,0.1\n",
        encoding="utf-8",
    )
    result = run(cli_env, "import", str(path), "--no-progress")
    assert result.returncode == 1
    assert "3 accepted, 0 duplicate, 0 revised, 1 refused" in result.stdout
    assert "line 3: values.nh3n: not a number: 'oops'" in result.stderr


def test_classify_command(tmp_path: Path) -> None:
    src = tmp_path / "values.csv"
    src.write_text("site,nh3n,tp,do\nA,0.5,0.1,6\nB,1.72,0.12,\nC,x,,\n", encoding="utf-8")
    out = tmp_path / "classes.csv"
    result = run(dict(os.environ), "classify", str(src), "-o", str(out))
    assert result.returncode == 1, result.stderr  # a refused cell: classified without it
    rows = out.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("site,nh3n,tp,do,")
    assert "class" in rows[0].split(",")
    assert ",Ⅱ," in rows[1] or rows[1].endswith("Ⅱ")  # NH3-N 0.5, TP 0.1, DO 6: class Ⅱ
    assert "Ⅴ" in rows[2]
    assert "row" in result.stderr.lower()
    assert "nh3n" in result.stderr
    missing = run(dict(os.environ), "classify", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2


def test_no_database_here_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIVERWATCH_")}
    env["RIVERWATCH_DATA_DIR"] = str(tmp_path / "data")
    result = run(env, "station", "list")
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1
    assert "no riverwatch database in" in result.stderr
    assert "RIVERWATCH_DATABASE_URL" in result.stderr
    assert not (tmp_path / "data").exists()


def test_an_unmigrated_database_is_named_not_a_traceback(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "rule", "list")
    assert result.returncode == 4
    assert "riverwatch db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_quiet_by_default_and_verbose_on_request(cli_env: dict[str, str]) -> None:
    upgraded = run(cli_env, "db", "upgrade")
    assert upgraded.returncode == 0
    assert upgraded.stderr == ""  # no migration chatter
    assert run(cli_env, "station", "list").stderr == ""
    verbose = run(cli_env, "--verbose", "db", "upgrade")
    assert "INFO" in verbose.stderr


def test_version_and_usage_exit_codes() -> None:
    version = run(dict(os.environ), "--version")
    assert (version.returncode, version.stdout.strip()) == (0, "riverwatch 0.1.0")
    assert run(dict(os.environ), "station", "add").returncode == 2  # usage: arguments missing


def test_the_cli_starts_without_the_database_stack() -> None:
    # --help must not import SQLAlchemy, pandas or the models: that is what made every
    # call take seconds.
    probe = (
        "import sys; from app.cli import cli; "
        "print(' '.join(m for m in ('sqlalchemy', 'pandas', 'core.models', 'alerts.models') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == ""
