"""Browser sessions: transparent refresh, and two requests refreshing the same cookie at
once do not sign the person out (a refresh token works once; reuse revokes the chain)."""
from __future__ import annotations

from guichet_gateway.auth import ACCESS_COOKIE, REFRESH_COOKIE


def _page(client, refresh_token):
    fresh = client.application.test_client()
    fresh.set_cookie(REFRESH_COOKIE, refresh_token, domain="localhost")
    return fresh.get("/mon-compte")


def test_same_refresh_cookie_twice_keeps_the_session(client, make_citizen):
    citizen = make_citizen("sess")
    old_refresh = citizen.tokens["refresh_token"]
    first = _page(client, old_refresh)
    second = _page(client, old_refresh)  # e.g. the live stream, opened by the same page
    for resp in (first, second):
        assert resp.status_code == 200, resp.headers.get("Location")
    new_cookies = {c.split("=", 1)[0]: c.split("=", 1)[1].split(";", 1)[0]
                   for c in first.headers.getlist("Set-Cookie")}
    assert ACCESS_COOKIE in new_cookies and REFRESH_COOKIE in new_cookies
    # The chain is still alive: the pair handed out keeps working.
    third = _page(client, new_cookies[REFRESH_COOKIE])
    assert third.status_code == 200


def test_signed_out_visitor_is_sent_to_connexion_and_back(client):
    resp = client.application.test_client().get("/mon-compte")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/connexion?next=/mon-compte")
