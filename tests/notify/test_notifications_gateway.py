"""Notifications through the gateway on the running stack: API, pages, unread badge and
the live stream, with events published on the stack's broker as the other services do."""
from __future__ import annotations

import json
import queue
import threading
import time

import pytest
from guichet_common import events
from nameko.standalone.events import event_dispatcher


@pytest.fixture
def publish(stack):
    dispatch = event_dispatcher(stack.service_config("notify"))

    def send(citizen_id, evt=events.DEMANDE_STATUS_CHANGED, **extra):
        data = {"account_id": citizen_id, "demande_id": "d" * 32, "demarche_title": "Inscription scolaire",
                "tracking_number": "BLV-7KQ4-93XZ", "status": "en_traitement",
                "status_label": "En cours de traitement", "url": f"/demandes/{'d' * 32}", **extra}
        dispatch("demarches", evt, events.payload(**data))
    return send


def me_id(citizen):
    return citizen.get("/api/v1/me").get_json()["id"]


def wait_total(citizen, n, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        body = citizen.get("/api/v1/notifications").get_json()
        if body["total"] >= n or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def fresh(make_citizen, tag):
    """A citizen whose inbox starts empty (the activation leaves an entry: removed)."""
    c = make_citizen(tag)
    body = wait_total(c, 1)
    for n in body["items"]:
        assert c.delete(f"/api/v1/notifications/{n['id']}").status_code == 204
    return c


def test_list_read_read_all_delete_and_others_get_404(make_citizen, publish, mail):
    anne, paul = fresh(make_citizen, "anne"), fresh(make_citizen, "paul")
    aid = me_id(anne)
    publish(aid, events.DEMANDE_SUBMITTED)
    publish(aid, events.DEMANDE_STATUS_CHANGED, comment="Dossier complet")
    publish(aid, events.DEMANDE_MESSAGE_FROM_AGENT, body="Merci de confirmer votre adresse.")
    body = wait_total(anne, 3)
    assert set(body) >= {"items", "page", "page_size", "total", "unread"}
    assert body["total"] == 3 and body["unread"] == 3 and body["page"] == 1 and body["page_size"] >= 50
    items = body["items"]
    # newest first (the three events are handled concurrently, so their order is the service's)
    assert [n["created_at"] for n in items] == sorted((n["created_at"] for n in items), reverse=True)
    assert {n["kind"] for n in items} == {events.DEMANDE_MESSAGE_FROM_AGENT, events.DEMANDE_STATUS_CHANGED,
                                          events.DEMANDE_SUBMITTED}
    for n in items:
        assert set(n) >= {"id", "title", "body", "demande_id", "read", "created_at"}
        assert n["demande_id"] == "d" * 32 and n["read"] is False and n["link"] == "/demandes/" + "d" * 32
    [message] = [n for n in items if n["kind"] == events.DEMANDE_MESSAGE_FROM_AGENT]
    assert "Merci de confirmer votre adresse." in message["body"]
    assert anne.get("/api/v1/notifications?page_size=1&page=2").get_json()["items"][0]["id"] == items[1]["id"]
    assert anne.get("/api/v1/notifications?page=x").status_code == 400
    assert anne.get("/api/v1/notifications/unread-count").get_json() == {"unread": 3}
    # another person's notification does not exist for them
    for r in (paul.post(f"/api/v1/notifications/{items[0]['id']}/read"),
              paul.delete(f"/api/v1/notifications/{items[0]['id']}"),
              paul.post("/api/v1/notifications/nope/read")):
        assert r.status_code == 404 and r.content_type == "application/problem+json"
    assert paul.get("/api/v1/notifications").get_json()["total"] == 0
    r = anne.post(f"/api/v1/notifications/{items[0]['id']}/read")
    assert r.status_code == 204 and r.get_data() == b""
    assert anne.get("/api/v1/notifications/unread-count").get_json() == {"unread": 2}
    assert anne.delete(f"/api/v1/notifications/{items[1]['id']}").status_code == 204
    assert anne.post("/api/v1/notifications/read-all").status_code == 204
    after = anne.get("/api/v1/notifications").get_json()
    assert after["total"] == 2 and after["unread"] == 0 and all(n["read"] for n in after["items"])
    # emails went out with the right subject and link
    msgs = mail.to(anne.email, at_least=5)
    subjects = [str(m["Subject"]) for m in msgs]
    assert len(msgs) == 5, subjects  # activation, activated, 3 demande events
    assert mail.link(anne.email, "/demandes/" + "d" * 32).startswith("http://127.0.0.1:")


def test_anonymous_and_bad_tokens(client):
    for method, url in (("get", "/api/v1/notifications"), ("get", "/api/v1/notifications/unread-count"),
                        ("post", "/api/v1/notifications/read-all"), ("post", "/api/v1/notifications/x/read"),
                        ("delete", "/api/v1/notifications/x")):
        r = getattr(client, method)(url)
        assert r.status_code == 401 and r.content_type == "application/problem+json"
        r = getattr(client, method)(url, headers={"Authorization": "Bearer abc.def.ghi"})
        assert r.status_code == 401
    assert client.get("/notifications/stream").status_code == 401


def test_openapi_documents_the_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/notifications", "/notifications/unread-count", "/notifications/read-all",
            "/notifications/{notification_id}/read", "/notifications/{notification_id}"} <= set(paths)


def read_stream(citizen, out: queue.Queue, meta: dict):
    """Open the stream in this thread (the test client leaves a streamed request's context
    pushed on the thread that opened it) and queue each SSE block."""
    resp = citizen.get("/notifications/stream", buffered=False)
    meta.update(status=resp.status_code, mimetype=resp.mimetype, cache=resp.headers.get("Cache-Control"))
    buf = ""
    for chunk in resp.response:
        buf += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buf:
            block, buf = buf.split("\n\n", 1)
            out.put(block)
    resp.close()


def test_live_stream_delivers_only_own_notifications(make_citizen, publish, gateway_app):
    anne, paul = fresh(make_citizen, "live"), fresh(make_citizen, "other")
    anne_id, paul_id = me_id(anne), me_id(paul)
    hub = gateway_app.extensions["guichet_live"]
    gateway_app.config.update(SSE_HEARTBEAT_S=0.5, SSE_MAX_AGE_S=6)  # read per stream
    blocks: queue.Queue = queue.Queue()
    meta: dict = {}
    reader = threading.Thread(target=read_stream, args=(anne, blocks, meta), daemon=True)
    reader.start()
    assert blocks.get(timeout=10).startswith("retry:")
    gateway_app.config.update(SSE_HEARTBEAT_S=15, SSE_MAX_AGE_S=300)
    assert meta == {"status": 200, "mimetype": "text/event-stream", "cache": "no-cache"}
    assert hub.ready.wait(15), "live consumer not bound to notify.events"
    publish(paul_id, events.DEMANDE_SUBMITTED)  # not for anne: never on her stream
    publish(anne_id, events.DEMANDE_INFO_REQUESTED, body="Il manque le livret de famille.")
    block = blocks.get(timeout=20)
    heartbeats = 0
    while block.startswith(":"):  # heartbeats
        heartbeats += 1
        block = blocks.get(timeout=20)
    lines = dict(line.split(": ", 1) for line in block.split("\n"))
    assert lines["event"] == "notification"
    data = json.loads(lines["data"])
    assert data["kind"] == events.DEMANDE_INFO_REQUESTED and "livret de famille" in data["body"]
    assert "account_id" not in data
    reader.join(15)  # the stream ends by itself after SSE_MAX_AGE_S; the browser would reconnect
    assert not reader.is_alive()
    rest = []
    while not blocks.empty():
        rest.append(blocks.get())
    assert all(b == ": ping" for b in rest) and heartbeats + len(rest) >= 1
    [entry] = anne.get("/api/v1/notifications").get_json()["items"]
    assert entry["id"] == data["id"]


def test_stream_cap_per_process(make_citizen, gateway_app):
    c = make_citizen("cap")
    hub = gateway_app.extensions["guichet_live"]
    held = [hub.subscribe(f"someone-{i}") for i in range(hub.max_streams)]
    try:
        r = c.get("/notifications/stream")
        assert r.status_code == 503 and r.headers["Retry-After"]
    finally:
        for listener in held:
            hub.unsubscribe(listener)


def test_stream_per_account_limit_ends_the_oldest(gateway_app):
    hub = gateway_app.extensions["guichet_live"]
    first, second = hub.subscribe("acct-x"), hub.subscribe("acct-x")
    third = hub.subscribe("acct-x")  # per_account = 2: the oldest makes room
    try:
        assert first.closed and not second.closed and not third.closed
        assert first.queue.get_nowait() == {}  # its waiting stream wakes up and ends
        assert hub.publish_local({"account_id": "acct-x", "id": "n1"}) == 2
        assert hub.publish_local({"account_id": "acct-y", "id": "n2"}) == 0
    finally:
        for listener in (first, second, third):
            hub.unsubscribe(listener)
    assert hub.publish_local({"account_id": "acct-x", "id": "n3"}) == 0


def test_inbox_page_badge_and_actions(make_citizen, publish, client):
    c = fresh(make_citizen, "page")
    cid = me_id(c)
    publish(cid, events.DEMANDE_SUBMITTED)
    publish(cid, events.DEMANDE_STATUS_CHANGED)
    items = wait_total(c, 2)["items"]
    client.set_cookie("guichet_access", c.tokens["access_token"])
    client.set_cookie("guichet_refresh", c.tokens["refresh_token"])
    page = client.get("/notifications")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="guichet-badge">2' in html
    assert "Non lue" in html and "Inscription scolaire" in html and "/demandes/" + "d" * 32 in html
    assert 'aria-live="polite"' in html and "/static/js/notifications.js" in html
    assert client.get("/static/js/notifications.js").status_code == 200
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert client.post(f"/notifications/{items[0]['id']}/lue").status_code == 400  # no CSRF token
    r = client.post(f"/notifications/{items[0]['id']}/lue", data={"csrf_token": token})
    assert r.status_code == 302
    assert c.get("/api/v1/notifications/unread-count").get_json() == {"unread": 1}
    r = client.get(f"/notifications/{items[1]['id']}/ouvrir")
    assert r.status_code == 302 and r.headers["Location"].endswith("/demandes/" + "d" * 32)
    assert c.get("/api/v1/notifications/unread-count").get_json() == {"unread": 0}
    assert 'class="guichet-badge"' not in client.get("/notifications").get_data(as_text=True)
    r = client.post(f"/notifications/{items[1]['id']}/supprimer", data={"csrf_token": token})
    assert r.status_code == 302 and c.get("/api/v1/notifications").get_json()["total"] == 1
    assert client.post("/notifications/inconnue/supprimer", data={"csrf_token": token}).status_code == 404
    assert client.post("/notifications/tout-lire", data={"csrf_token": token}).status_code == 302
    client.delete_cookie("guichet_access")
    client.delete_cookie("guichet_refresh")
    r = client.get("/notifications")
    assert r.status_code == 302 and "/connexion" in r.headers["Location"]


def test_live_consumer_reconnects_after_losing_the_broker(make_citizen, publish, gateway_app, stack):
    import requests
    from guichet_common.devstack import _mgmt

    c = fresh(make_citizen, "reconnect")
    cid = me_id(c)
    hub = gateway_app.extensions["guichet_live"]
    listener = hub.subscribe(cid)
    try:
        assert hub.ready.wait(15)
        api, auth, vhost = _mgmt(stack.amqp_uri)

        def live_connections():
            r = requests.get(f"{api}/api/vhosts/{requests.utils.quote(vhost, safe='')}/connections", auth=auth,
                             timeout=10)
            return [x["name"] for x in r.json()
                    if (x.get("client_properties") or {}).get("connection_name", "").startswith("guichet-live-")]

        deadline = time.monotonic() + 20
        while not (names := live_connections()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert names, "the live consumer's connection is not listed"
        for name in names:  # the broker drops the connection, as on a broker restart
            requests.delete(f"{api}/api/connections/{requests.utils.quote(name, safe='')}", auth=auth, timeout=10)
        deadline = time.monotonic() + 20
        while hub.ready.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not hub.ready.is_set(), "the consumer did not notice the lost connection"
        assert hub.ready.wait(30), "the consumer did not reconnect"
        publish(cid, events.DEMANDE_SUBMITTED)
        got = listener.queue.get(timeout=20)
        assert got["kind"] == events.DEMANDE_SUBMITTED and got["account_id"] == cid
    finally:
        hub.unsubscribe(listener)


def test_export_includes_the_inbox_and_account_deletion_purges_it(make_citizen, publish, stack):
    from guichet_common.rpc import ClusterRpcProxy

    c = fresh(make_citizen, "purge")
    cid = me_id(c)
    publish(cid, events.DEMANDE_SUBMITTED)
    [note] = wait_total(c, 1)["items"]
    exported = c.get("/api/v1/me/export").get_json()
    assert [n["id"] for n in exported["notify"]["notifications"]] == [note["id"]]
    assert exported["notify"]["contact"]["notification_prefs"]["email"] is True  # notify's copy is exported too
    assert {e["subject"].split(" — ")[1] for e in exported["notify"]["emails"]} >= {
        "Activez votre compte", "Demande reçue : Inscription scolaire"}
    assert c.delete("/api/v1/me").status_code == 204
    with ClusterRpcProxy(stack.service_config("notify"), timeout=20) as rpc:
        deadline = time.monotonic() + 20
        while (left := rpc.notify.export_personal_data(cid)) != {"contact": None, "notifications": [], "emails": []} \
                and time.monotonic() < deadline:
            time.sleep(0.3)
    assert left == {"contact": None, "notifications": [], "emails": []}
