"""Through the broker with the real SMTP sink: every event kind makes the right email and
inbox entry, preferences are followed, account deletion purges, the inbox RPCs."""
from __future__ import annotations

import re

import pytest
from guichet_common import events
from guichet_common.rpc import ClusterRpcProxy
from guichet_identity.service import IdentityService
from guichet_notify.service import NotifyService
from guichet_notify.templates import CATALOGUE
from nameko.exceptions import RemoteError
from notify_helpers import citizen, dispatcher, html_part, sample_payloads, subject, wait_for
from sqlalchemy import create_engine, delete
from sqlalchemy.orm import Session

FAST = {"MAIL_RETRY_BASE_S": 0.2, "MAIL_RETRY_MAX_S": 1.0, "MAIL_LEASE_S": 3.0, "MAIL_MAX_ATTEMPTS": 3,
        "BRAND_PRIMARY": "#8a1538"}


@pytest.fixture
def running(container_factory, test_env):
    identity = container_factory(IdentityService, test_env.service_config("identity"))
    notify = container_factory(NotifyService, test_env.service_config("notify", **FAST))
    identity.start()
    notify.start()
    return test_env.service_config("notify")


def set_prefs(config, who, prefs):
    """Through identity, as the person does; then wait until notify's copy has them (its
    contact_changed handler), which the events below rely on."""
    with ClusterRpcProxy(config, timeout=20) as rpc:
        rpc.identity.update_me(who["token"], {"notification_prefs": prefs})
        expected = {"email": True, **prefs}
        assert wait_for(lambda: (rpc.notify.export_personal_data(who["id"])["contact"] or {})
                        .get("notification_prefs") == expected, 20)


def inbox(config, token, **kw):
    with ClusterRpcProxy(config, timeout=20) as rpc:
        return rpc.notify.list_notifications(token, **kw)


def test_every_event_kind_makes_its_email_and_inbox_entry(running, test_env):
    config, mail = running, test_env.mail
    who = citizen(config, mail, "kinds")
    base = config["BASE_URL"]
    payloads = sample_payloads(who["id"], who["email"], base)
    assert {evt for _, evt in payloads} == set(CATALOGUE)
    dispatch = dispatcher(config)
    for (source, evt), data in payloads.items():
        dispatch(source, evt, events.payload(**data))
    # +2: the activation mail of citizen() and the "compte activé" mail of the real activation
    msgs = mail.to(who["email"], wait_s=30, at_least=2 + len(payloads))
    assert len(msgs) == 2 + len(payloads)
    listing = wait_for(lambda: (r := inbox(config, who["token"], page_size=200))["total"] >= 12 and r, 20)
    entries = {(n["title"], n["link"]): n for n in listing["items"]}
    for (_source, evt), data in payloads.items():
        expected = CATALOGUE[evt](data)
        link = base + expected.link if expected.link.startswith("/") else expected.link
        [m] = [m for m in msgs if subject(m) == f"Ville de Bellerive — {expected.title}" and link in mail.body(m)]
        assert m["To"] == who["email"]
        assert re.fullmatch(r"<[A-Za-z0-9._-]+@guichet\.local>", m["Message-ID"].strip())
        body = mail.body(m)
        assert link and link.startswith(base) and link in body, (evt, body)
        page = html_part(m)
        assert f'href="{link}"' in page and "#8a1538" in page and "Ville de Bellerive" in page
        if expected.inbox:
            inbox_path = link[len(base):] if expected.inbox_link is None else expected.inbox_link
            note = entries[(expected.title, inbox_path)]
            assert note["read"] is False and note["kind"] == evt
            assert "token=" not in note["link"]  # one-time links never rest in the inbox
            if evt.startswith("demande_"):
                assert note["demande_id"] == "d" * 32
        else:
            assert expected.title not in {t for t, _ in entries}  # activation links stay out of the inbox
    # activated, locked, reset, password changed, email changed, 3 justificatifs, 4 demandes
    assert listing["total"] == 12 and listing["unread"] == 12


def test_redelivered_event_makes_one_mail_and_one_entry(running, test_env):
    config, mail = running, test_env.mail
    who = citizen(config, mail, "twice")
    data = sample_payloads(who["id"], who["email"], config["BASE_URL"])[("demarches", events.DEMANDE_SUBMITTED)]
    payload = events.payload(**data)
    dispatch = dispatcher(config)
    for _ in range(3):
        dispatch("demarches", events.DEMANDE_SUBMITTED, payload)
    assert wait_for(lambda: inbox(config, who["token"])["total"] >= 1, 20)
    other = events.payload(**data)  # a later event, to know the three copies were consumed
    dispatch("demarches", events.DEMANDE_SUBMITTED, other)
    assert wait_for(lambda: inbox(config, who["token"])["total"] >= 2, 20)
    assert len(mail.to(who["email"], at_least=4, wait_s=5)) == 4  # activation, activated + 2 distinct events


def test_email_switch_off_keeps_inbox_but_security_mails_still_go(running, test_env):
    config, mail = running, test_env.mail
    who = citizen(config, mail, "prefs")
    set_prefs(config, who, {"email": False})
    p = sample_payloads(who["id"], who["email"], config["BASE_URL"])
    dispatch = dispatcher(config)
    dispatch("demarches", events.DEMANDE_STATUS_CHANGED, events.payload(**p[("demarches", events.DEMANDE_STATUS_CHANGED)]))
    dispatch("wallet", events.JUSTIFICATIF_VALIDATED, events.payload(**p[("wallet", events.JUSTIFICATIF_VALIDATED)]))
    dispatch("identity", events.PASSWORD_CHANGED, events.payload(**p[("identity", events.PASSWORD_CHANGED)]))
    assert wait_for(lambda: inbox(config, who["token"])["total"] >= 3, 20)
    msgs = mail.to(who["email"], at_least=3, wait_s=10)
    assert sorted(subject(m).split(" — ")[1] for m in msgs) == [
        "Activez votre compte", "Votre compte est activé", "Votre mot de passe a été modifié"]


def test_per_category_switch(running, test_env):
    config, mail = running, test_env.mail
    who = citizen(config, mail, "cat")
    set_prefs(config, who, {"email": True, "email_demandes": False})
    p = sample_payloads(who["id"], who["email"], config["BASE_URL"])
    dispatch = dispatcher(config)
    dispatch("demarches", events.DEMANDE_SUBMITTED, events.payload(**p[("demarches", events.DEMANDE_SUBMITTED)]))
    dispatch("wallet", events.JUSTIFICATIF_REFUSED, events.payload(**p[("wallet", events.JUSTIFICATIF_REFUSED)]))
    assert wait_for(lambda: inbox(config, who["token"])["total"] >= 2, 20)
    msgs = mail.to(who["email"], at_least=3, wait_s=10)
    assert sorted(subject(m).split(" — ")[1] for m in msgs) == [
        "Activez votre compte", "Justificatif refusé", "Votre compte est activé"]


def test_inbox_rpcs_and_other_people(running, test_env):
    config, mail = running, test_env.mail
    anne, paul = citizen(config, mail, "anne"), citizen(config, mail, "paul")
    p = sample_payloads(anne["id"], anne["email"], config["BASE_URL"])
    dispatch = dispatcher(config)
    for evt in (events.DEMANDE_SUBMITTED, events.DEMANDE_STATUS_CHANGED, events.DEMANDE_MESSAGE_FROM_AGENT):
        dispatch("demarches", evt, events.payload(**p[("demarches", evt)]))
    assert wait_for(lambda: inbox(config, anne["token"])["total"] >= 3, 20)
    with ClusterRpcProxy(config, timeout=20) as rpc:
        items = rpc.notify.list_notifications(anne["token"])["items"]
        assert [n["created_at"] for n in items] == sorted((n["created_at"] for n in items), reverse=True)
        assert len(items) == 3
        page2 = rpc.notify.list_notifications(anne["token"], 2, 2)
        assert page2["page"] == 2 and [n["id"] for n in page2["items"]] == [items[2]["id"]]
        assert rpc.notify.unread_count(anne["token"]) == 3
        for call in (lambda: rpc.notify.mark_read(paul["token"], items[0]["id"]),
                     lambda: rpc.notify.delete_notification(paul["token"], items[0]["id"])):
            with pytest.raises(RemoteError) as err:
                call()
            assert err.value.exc_type == "NotificationNotFound"
        assert rpc.notify.get_notification(anne["token"], items[0]["id"]) == items[0]
        with pytest.raises(RemoteError) as err:
            rpc.notify.get_notification(paul["token"], items[0]["id"])
        assert err.value.exc_type == "NotificationNotFound"
        rpc.notify.mark_read(anne["token"], items[0]["id"])
        assert rpc.notify.unread_count(anne["token"]) == 2
        rpc.notify.delete_notification(anne["token"], items[1]["id"])
        assert rpc.notify.mark_all_read(anne["token"]) == 1
        after = rpc.notify.list_notifications(anne["token"])
        assert after["total"] == 2 and after["unread"] == 0
        assert rpc.notify.unread_count(paul["token"]) == 0
        with pytest.raises(RemoteError) as err:
            rpc.notify.unread_count("not-a-token")
        assert err.value.exc_type == "Unauthorized"
        exported = rpc.notify.export_personal_data(anne["id"])
        assert {n["id"] for n in exported["notifications"]} == {items[0]["id"], items[2]["id"]}
        assert len(exported["emails"]) == 5 and all(e["to"] == anne["email"] for e in exported["emails"])
        summary = rpc.notify.delivery_summary()
        assert summary["sent"] >= 4 and set(summary) >= {"queued", "sent", "failed"}
        with pytest.raises(RemoteError) as err:
            rpc.notify.mail_deliveries(anne["token"])
        assert err.value.exc_type == "Forbidden"
        admin = rpc.identity.login("admin@guichet.test", "AdminDemo2026!", "tests")["access_token"]
        rows = rpc.notify.mail_deliveries(admin, anne["id"])
        assert len(rows) == 5 and {r["status"] for r in rows} == {"sent"} and all(r["attempts"] == 1 for r in rows)


def test_account_deleted_purges_inbox_and_mails(running, test_env):
    config, mail = running, test_env.mail
    who = citizen(config, mail, "gone")
    p = sample_payloads(who["id"], who["email"], config["BASE_URL"])
    dispatch = dispatcher(config)
    dispatch("demarches", events.DEMANDE_SUBMITTED, events.payload(**p[("demarches", events.DEMANDE_SUBMITTED)]))
    assert wait_for(lambda: inbox(config, who["token"])["total"] == 1, 20)
    deleted = events.payload(account_id=who["id"])
    dispatch("identity", events.ACCOUNT_DELETED, deleted)
    dispatch("identity", events.ACCOUNT_DELETED, deleted)  # redelivery is harmless
    with ClusterRpcProxy(config, timeout=20) as rpc:
        assert wait_for(lambda: rpc.notify.export_personal_data(who["id"]) == {
            "contact": None, "notifications": [], "emails": []}, 20)


def contact_copy(config, account_id):
    with ClusterRpcProxy(config, timeout=20) as rpc:
        return rpc.notify.export_personal_data(account_id)["contact"]


def test_the_contact_copy_follows_identity_newest_first_and_a_deleted_account_stays_deleted(running, test_env):
    config, mail = running, test_env.mail
    who, witness = citizen(config, mail, "copy"), citizen(config, mail, "witness")
    assert contact_copy(config, who["id"]) == {"email": who["email"], "notification_prefs": {"email": True}}
    dispatch = dispatcher(config)
    moved = f"moved-{who['email']}"
    newer = events.payload(account_id=who["id"], email=moved, notification_prefs={"email": True}, version=5)
    older = events.payload(account_id=who["id"], email="stale@example.test", notification_prefs={"email": False},
                           version=4)
    dispatch("identity", events.CONTACT_CHANGED, newer)
    assert wait_for(lambda: contact_copy(config, who["id"])["email"] == moved, 20)
    dispatch("identity", events.CONTACT_CHANGED, older)  # late, out of order: ignored
    dispatch("identity", events.CONTACT_CHANGED, newer)  # redelivered: harmless
    p = sample_payloads(who["id"], who["email"], config["BASE_URL"])
    submitted = p[("demarches", events.DEMANDE_SUBMITTED)]
    dispatch("demarches", events.DEMANDE_SUBMITTED, events.payload(**submitted))
    assert [subject(m).split(" — ")[1] for m in mail.to(moved, at_least=1)] == ["Demande reçue : Inscription scolaire"]
    assert contact_copy(config, who["id"])["email"] == moved

    dispatch("identity", events.ACCOUNT_DELETED, events.payload(account_id=who["id"]))
    assert wait_for(lambda: contact_copy(config, who["id"]) is None, 20)
    dispatch("identity", events.CONTACT_CHANGED, events.payload(account_id=who["id"], email=moved,
                                                                notification_prefs={"email": True}, version=99))
    dispatch("demarches", events.DEMANDE_SUBMITTED, events.payload(**submitted))  # late, for the deleted account
    w = sample_payloads(witness["id"], witness["email"], config["BASE_URL"])
    dispatch("demarches", events.DEMANDE_SUBMITTED, events.payload(**w[("demarches", events.DEMANDE_SUBMITTED)]))
    assert wait_for(lambda: inbox(config, witness["token"])["total"] == 1, 20)  # sent after, handled
    assert len(mail.to(moved, at_least=1, wait_s=1)) == 1
    assert contact_copy(config, who["id"]) is None
    with ClusterRpcProxy(config, timeout=20) as rpc:
        assert rpc.notify.export_personal_data(who["id"])["notifications"] == []


def test_without_a_copy_notify_asks_identity_once_then_keeps_it(running, test_env):
    """Accounts older than the copy (or whose contact_changed is late): identity answers."""
    config, mail = running, test_env.mail
    who = citizen(config, mail, "nocopy")
    from guichet_notify.models import Contact

    engine = create_engine(test_env.db_urls["notify"])
    with Session(engine) as s:
        s.execute(delete(Contact).where(Contact.account_id == who["id"]))
        s.commit()
    engine.dispose()
    assert contact_copy(config, who["id"]) is None
    p = sample_payloads(who["id"], who["email"], config["BASE_URL"])
    dispatch = dispatcher(config)
    dispatch("demarches", events.DEMANDE_SUBMITTED, events.payload(**p[("demarches", events.DEMANDE_SUBMITTED)]))
    assert len(mail.to(who["email"], at_least=3)) == 3  # activation, activated, this one
    assert contact_copy(config, who["id"]) == {"email": who["email"], "notification_prefs": {"email": True}}
