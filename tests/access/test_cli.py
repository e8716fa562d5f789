"""`riverwatch user …` as an operator runs it."""

from __future__ import annotations

from sqlalchemy import text

from core.db import make_engine
from tests.test_cli import run


def test_user_commands(cli_env: dict[str, str]) -> None:
    assert run(cli_env, "seed", "plan").returncode == 0
    zone = "东干河流域"
    added = run(cli_env, "user", "add", "chen", "--role", "zone_officer", "--zone", zone)
    assert added.returncode == 0, added.stderr
    assert "chen added as zone_officer" in added.stdout

    refused = run(cli_env, "user", "add", "wu", "--role", "zone_officer")
    assert refused.returncode == 1
    assert "needs at least one zone" in refused.stderr
    assert "Traceback" not in refused.stderr

    listed = run(cli_env, "user", "list")
    assert f"chen\tzone_officer\t{zone}\t-\tactive" in listed.stdout

    assert run(cli_env, "user", "role", "chen", "analyst").returncode == 0
    assert "chen\tanalyst\t-" in run(cli_env, "user", "list").stdout

    reset = run(cli_env, "user", "reset-password", "chen")
    assert reset.returncode == 0, reset.stderr
    assert len(reset.stdout.rsplit(":", 1)[1].strip()) >= 12

    token = run(cli_env, "user", "token", "chen", "--name", "nightly", "--days", "3")
    assert token.returncode == 0, token.stderr
    assert token.stdout.rsplit(":", 1)[1].strip().startswith("rwt_")

    assert run(cli_env, "user", "disable", "chen").returncode == 0
    assert "chen\tanalyst\t-\t-\tdisabled" in run(cli_env, "user", "list").stdout

    missing = run(cli_env, "user", "disable", "nobody")
    assert missing.returncode == 3  # refused: no such user
    assert "no user 'nobody'" in missing.stderr

    # Changes from the command line are the operator's in the audit log.
    engine = make_engine(cli_env["RIVERWATCH_DATABASE_URL"], pool_size=1)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT actor, via, action, object_type FROM audit_log ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    done = {(r.object_type, r.action) for r in rows}
    assert {("user", "create"), ("user", "update"), ("api_token", "create")} <= done
    assert all(r.via == "cli" and r.actor.startswith("cli:") for r in rows)
