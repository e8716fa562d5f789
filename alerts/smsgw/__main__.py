"""python -m alerts.smsgw --port 9100 [--log FILE]: run the gateway stand-in."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from alerts.channels.webhook import new_secret
from alerts.smsgw.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m alerts.smsgw", description=__doc__)
    # Loopback by default: /control and /messages have no authentication.
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--log", type=Path, help="append every request as a JSON line")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("RIVERWATCH_SMSGW_API_KEY", "demo-key"),
        help="the Bearer key /sms/send accepts (env RIVERWATCH_SMSGW_API_KEY)",
    )
    parser.add_argument(
        "--webhook-secret",
        action="append",
        default=[],
        help="whsec_... secret /webhook verifies with; repeat while rotating; "
        "one is generated and printed if none is given",
    )
    args = parser.parse_args(argv)
    secrets = args.webhook_secret or [new_secret()]
    if not args.webhook_secret:
        print(f"webhook secret: {secrets[0]}", flush=True)
    app = create_app(args.api_key, webhook_secrets=secrets, log_path=args.log)
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
