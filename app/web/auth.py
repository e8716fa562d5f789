"""Who is signed in to the pages: the one place the access work (issue 11) plugs in.

Until users and sign-in land nobody is. Reading pages are public, as the API's reads
are. Acting (acknowledge, resolve) and reading incidents go through the admin API: the
page asks for RIVERWATCH_ADMIN_TOKEN when the API answers 401, keeps it in the tab's
sessionStorage and sends it as a bearer header (static/common.js, `api`). A header is
never sent by a cross-site form, so those requests need no CSRF token; a cookie session
will (common.js already sends an X-CSRF-Token header from <meta name="csrf-token">).
"""

from __future__ import annotations

from fastapi import Request


def current_user(request: Request) -> str | None:
    """The signed-in user's display name, or None."""
    return None


def csrf_token(request: Request) -> str | None:
    """The token forms and fetches must echo, once sessions are cookies."""
    return None
