"""Acting from the pages with a signed-in user, in a real browser, against a service with
access control on (an admin token is set, so nobody is an admin by default).

An analyst signs in (argon2, session cookie), acknowledges from the incident page and
sees the timeline change; a viewer is offered no act buttons; a write carrying the
session cookie but not its CSRF token is refused, as is the viewer's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from alerts.smsgw.serve import serving
from app.access import service as access
from app.main import create_app
from core.settings import Environment, Settings
from tests.browser_support import WAIT_MS, Live, browser, live, open_incident, shot

__all__ = ["browser", "live"]  # fixtures, used by name

pytestmark = pytest.mark.browser

PASSWORD = "a long enough pass phrase"
ANALYST, VIEWER = "web.analyst", "web.viewer"


@pytest.fixture(scope="module")
def secured(live: Live) -> Iterator[str]:
    """A second service on the live database, with access control on."""
    for username, role in ((ANALYST, "analyst"), (VIEWER, "viewer")):
        access.add_user(live.session, username=username, role=role, password=PASSWORD)
    live.session.commit()
    database_url = live.session.get_bind().engine.url.render_as_string(hide_password=False)
    settings = Settings(
        env=Environment.TEST,
        database_url=database_url,
        scheduler=False,
        admin_token=SecretStr("a-bootstrap-admin-token-for-the-pages"),
    )
    with serving(create_app(settings), lifespan="on") as base:
        yield base


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield made
    finally:
        made.close()


def signed_in(context: Any, base: str, path: str, username: str) -> Any:
    """A page at `path`, reached through the sign-in form it redirects to."""
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}{path}")
    assert "/auth/login?next=" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{path}")
    return page


def timeline(page: Any) -> list[str]:
    entries: list[str] = page.eval_on_selector_all(
        "#timeline li", "items => items.map(i => i.textContent)"
    )
    return entries


def test_an_analyst_signs_in_and_acknowledges(live: Live, secured: str, context: Any) -> None:
    incident_id = open_incident(live, "S03")
    page = signed_in(context, secured, f"/incidents/{incident_id}", ANALYST)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    assert page.text_content("#who .user") == f"{ANALYST}（分析人员）"
    assert page.is_visible("#who form[action='/auth/logout'] button")
    page.wait_for_selector("#summary dl[data-state=open]")
    before = timeline(page)
    assert not any("已确认" in e for e in before)
    assert page.is_visible("#ack button")
    # No token to paste anywhere: the session is the credential.
    assert page.locator("input[name=token]").count() == 0

    page.click("#ack button")
    page.wait_for_selector("#summary dl[data-state=acknowledged]")
    after = timeline(page)
    assert len(after) == len(before) + 1
    assert any("已确认" in e for e in after)
    stored = live.get(f"/api/v1/incidents/{incident_id}")
    assert (stored["state"], stored["acknowledged_by"]) == ("acknowledged", ANALYST)
    assert page.is_visible("#resolve button")
    assert not page.is_visible("#ack button")
    shot(page, "incident-signed-in")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "incident-phone", full_page=False)

    # The session cookie alone does not make a write: the CSRF token is missing.
    url = f"{secured}/api/v1/incidents/{incident_id}/resolve"
    forged = context.request.post(url, data={"note": "forged", "force": True})
    assert forged.status == 403, forged.text()
    assert "CSRF" in forged.json()["error"]["message"]
    as_form = context.request.post(url, form={"note": "forged", "csrf_token": "wrong"})
    assert as_form.status == 403
    assert live.get(f"/api/v1/incidents/{incident_id}")["state"] == "acknowledged"

    # The page's own resolve carries the token: it goes through, in the user's name.
    page.fill("#resolve textarea[name=note]", "排口已封堵")
    page.check("#resolve input[name=force]")
    page.click("#resolve button")
    page.wait_for_selector("#summary dl[data-state=resolved]")
    assert any("已解决" in e for e in timeline(page))
    assert not page.is_visible("#act")
    stored = live.get(f"/api/v1/incidents/{incident_id}")
    assert (stored["state"], stored["resolve_note"]) == ("resolved", "排口已封堵")
    assert errors == []

    # Signing out ends the session: the page sends the reader to sign in again.
    page.click("#who form[action='/auth/logout'] button")
    page.wait_for_url("**/auth/login")
    page.goto(f"{secured}/incidents/{incident_id}")
    assert "/auth/login?next=" in page.url


def test_a_viewer_is_offered_no_act_buttons(live: Live, secured: str, context: Any) -> None:
    incident_id = open_incident(live, "S04")
    page = signed_in(context, secured, f"/incidents/{incident_id}", VIEWER)
    page.wait_for_selector("#summary dl[data-state=open]")
    assert page.text_content("#who .user") == f"{VIEWER}（查看人员）"
    assert not page.is_visible("#act")
    assert page.locator("#act button:visible").count() == 0
    assert "不能确认或解决事件" in (page.text_content("#no-act") or "")
    shot(page, "incident-viewer")

    # Even with the session's CSRF token, a viewer may not act.
    csrf = page.get_attribute("meta[name=csrf-token]", "content")
    assert csrf
    answer = context.request.post(
        f"{secured}/api/v1/incidents/{incident_id}/acknowledge", headers={"X-CSRF-Token": csrf}
    )
    assert answer.status == 403
    assert live.get(f"/api/v1/incidents/{incident_id}")["state"] == "open"


def test_anonymous_reads_public_pages_and_is_sent_to_sign_in(secured: str, context: Any) -> None:
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    # Classes and the plan's KPIs are public reads: the scoreboard draws, with a sign-in link.
    page.goto(f"{secured}/scoreboard")
    page.wait_for_selector("[data-kpi=share]")
    assert page.get_attribute("#who a.signin", "href") == "/auth/login?next=/scoreboard"
    # The section page's own state is public; its trends and incidents ask to sign in.
    page.goto(f"{secured}/sections/S02")
    page.wait_for_selector("#period [data-period]")
    page.wait_for_selector("#incidents a[href^='/auth/login']")
    # The two parts draw independently: the charts' link may come after the incidents'.
    page.wait_for_selector("#charts a[href^='/auth/login']")
    assert page.is_visible("#charts a[href^='/auth/login']")
    # Incidents need a user.
    page.goto(f"{secured}/incidents")
    assert "/auth/login?next=/incidents" in page.url
