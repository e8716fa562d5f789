"""Who is looking at a page, as the access work (app/access) sees it, and what the page
may offer them.

Pages follow the API's rules: each declares the permission its data needs
(`require_page`), so an anonymous browser is sent to /auth/login, or let in for the
public reads. Acting is offered to a role that may act (policy.py); the API decides
all the same. A signed-in browser holds only the session cookie: its writes carry
the session's CSRF token (<meta name="csrf-token">, sent by static/common.js as
X-CSRF-Token), and the API refuses a cookie write without it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.access.deps import csrf_for, login_url
from app.access.policy import Perm, Principal, Role
from core.settings import Settings

ROLE_ZH = {
    Role.ADMIN: "管理员",
    Role.ANALYST: "分析人员",
    Role.ZONE_OFFICER: "片区责任人",
    Role.OPERATIONS: "运维人员",
    Role.VIEWER: "查看人员",
    Role.RIVER_CHIEF: "河长",
}


def viewer(request: Request, principal: Principal, settings: Settings) -> dict[str, Any]:
    """The page's idea of its user: shown in the header and read by the scripts."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signed_in = principal.via == "session"
    return {
        # session: a signed-in user; open: development without an admin token (no
        # sign-in exists to use); public: anonymous, reading what is published anyway.
        "via": principal.via,
        "name": principal.username if principal.authenticated else None,
        "role": principal.role.value if principal.role else None,
        "role_zh": ROLE_ZH.get(principal.role) if principal.role else None,
        "can_act": principal.can(Perm.INCIDENTS_ACT),
        "can_read_stations": principal.can(Perm.STATIONS_READ),
        "can_read_incidents": principal.can(Perm.INCIDENTS_READ),
        "login_url": login_url(here),
        "csrf_token": csrf_for(request, settings) if signed_in else None,
    }
