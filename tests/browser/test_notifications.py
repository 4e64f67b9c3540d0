"""The notifications inbox in a real browser on real services: unread badge, list, mark
read, mark all read, and a notification arriving live (server-sent events) while the page
is open, announced politely; axe-core clean at each step."""
from __future__ import annotations

import os
import time
from typing import Any

DEMANDE = "d" * 32


def sign_in(app: Any, stack: Any) -> tuple[dict[str, str], str]:
    client = app.test_client()
    addr = f"notif-{os.urandom(3).hex()}@example.test"
    r = client.post("/api/v1/accounts", json={"email": addr, "password": "Versailles2026!", "first_name": "Anne",
                                               "last_name": "Martin"})
    assert r.status_code == 202
    token = stack.mail.token(addr, "activation")
    assert client.post("/api/v1/accounts/activate", json={"token": token}).status_code == 200
    pair = client.post("/api/v1/auth/login", json={"email": addr, "password": "Versailles2026!"}).get_json()
    me = client.get("/api/v1/me", headers={"Authorization": "Bearer " + pair["access_token"]}).get_json()
    return pair, me["id"]


def publish(stack: Any, account_id: str, event: str, **extra: Any) -> None:
    from guichet_common import events
    from nameko.standalone.events import event_dispatcher

    data = {"account_id": account_id, "demande_id": DEMANDE, "demarche_title": "Inscription scolaire",
            "tracking_number": "BLV-7KQ4-93XZ", "status": "en_traitement", "status_label": "En cours de traitement",
            "url": f"/demandes/{DEMANDE}", **extra}
    event_dispatcher(stack.service_config("notify"))("demarches", event, events.payload(**data))


def wait_unread(app: Any, pair: dict[str, str], n: int) -> None:
    client = app.test_client()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = client.get("/api/v1/notifications/unread-count", headers={"Authorization": "Bearer " + pair["access_token"]})
        if r.get_json()["unread"] >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} unread notifications")


def badge(page: Any) -> str:
    link = page.locator('a.govuk-service-navigation__link[href="/notifications"]')
    b = link.locator(".guichet-badge")
    return b.inner_text().split()[0] if b.count() else ""


def test_badge_inbox_mark_read_and_live_arrival(page, app, stack, live_server, assert_accessible):
    server = live_server(app)
    pair, account_id = sign_in(app, stack)
    publish(stack, account_id, "demande_submitted")
    publish(stack, account_id, "demande_status_changed", comment="Dossier complet")
    wait_unread(app, pair, 3)  # + the "compte activé" entry
    page.context.add_cookies([
        {"name": "guichet_access", "value": pair["access_token"], "url": server.url},
        {"name": "guichet_refresh", "value": pair["refresh_token"], "url": server.url},
    ])
    page.goto(server.url_for("/notifications"))
    assert page.locator("h1").inner_text() == "Notifications"
    assert badge(page) == "3"
    items = page.locator("#notifications-list > li")
    assert items.count() == 3
    assert page.locator("#notifications-summary").inner_text() == "3 notifications, dont 3 non lues."
    assert page.locator("#notifications-list .govuk-tag", has_text="Non lue").count() == 3
    assert page.get_by_text("Dossier complet").is_visible()
    assert page.locator(f'#notifications-list a[href="/demandes/{DEMANDE}"]').count() == 2
    assert_accessible(page)

    # live: the page is open, a new notification arrives without reload
    assert app.extensions["guichet_live"].ready.wait(15), "live consumer not bound"
    page.wait_for_timeout(300)  # let the EventSource subscribe
    publish(stack, account_id, "demande_message_from_agent", body="Merci de confirmer votre adresse.")
    page.wait_for_function("document.querySelectorAll('#notifications-list > li').length === 4")
    first = items.first
    assert "Nouveau message des services de la ville" in first.inner_text()
    assert "Merci de confirmer votre adresse." in first.inner_text()
    assert badge(page) == "4"
    assert page.locator("#notifications-summary").inner_text() == "4 notifications, dont 4 non lues."
    assert first.locator(f'a[href="/demandes/{DEMANDE}"]').inner_text().startswith("Voir la demande")
    page.wait_for_function("document.getElementById('notifications-live').textContent.includes('Nouvelle notification')")
    assert page.locator("#notifications-live").get_attribute("aria-live") == "polite"
    assert_accessible(page)

    # mark one read (the live one, with its own CSRF-protected form)
    first.get_by_role("button", name="Marquer comme lue").click()
    page.wait_for_load_state()
    assert "marquée comme lue" in page.locator(".govuk-notification-banner").inner_text()
    assert badge(page) == "3"
    assert page.locator("#notifications-list .govuk-tag", has_text="Non lue").count() == 3
    assert_accessible(page)

    # follow a notification to its demande: marked read on the way
    page.locator("#notifications-list > li", has_text="Demande reçue").locator("h2 a").click()
    assert page.url.endswith(f"/demandes/{DEMANDE}")
    page.goto(server.url_for("/notifications"))
    assert badge(page) == "2"

    # everything read: no badge, no "Non lue"
    page.get_by_role("button", name="Tout marquer comme lu").click()
    page.wait_for_load_state()
    assert badge(page) == ""
    assert page.locator("#notifications-list .govuk-tag", has_text="Non lue").count() == 0
    assert_accessible(page)
    # Expected: a navigation aborts what the page was still loading (the stream, sometimes the
    # logo), and the made-up demande does not exist (its HTTP error is listed with its URL; the
    # matching console line has none).
    real_problems = [p for p in page.guichet_problems
                     if "net::ERR_ABORTED" not in p
                     and f"/demandes/{DEMANDE}" not in p and "console error: Failed to load resource" not in p]
    assert not real_problems, page.guichet_problems
