"""The wallet service through the broker: real RabbitMQ, real SeaweedFS, SQLite."""
from __future__ import annotations

import base64
import hashlib
import json
import random
import string
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from guichet_common import events
from guichet_common.rpc import ClusterRpcProxy
from guichet_wallet.crypto import MasterKeyring
from guichet_wallet.objectstore import ObjectStore
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import create_engine, text

from .conftest import Person, load_samples

samples = load_samples()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text_: str) -> bytes:
    return base64.b64decode(text_)


def remote_error(kind: str, fn: Any, *args: Any) -> dict[str, Any]:
    with pytest.raises(RemoteError) as info:
        fn(*args)
    assert info.value.exc_type == kind, info.value
    return json.loads(info.value.value)


def marker_pdf(size: int) -> tuple[bytes, bytes]:
    """A valid PDF of about ``size`` bytes whose text is a random marker (to search for)."""
    marker = "".join(random.choices(string.ascii_letters, k=48))
    body = (marker * (size // len(marker) + 1))[: max(0, size - 700)]
    return samples.pdf(body), marker.encode()


def pdf_of_size(n: int) -> bytes:
    """A valid PDF of exactly n bytes."""
    pad = n - len(samples.pdf(""))
    while len(samples.pdf("x" * pad)) != n:
        pad += n - len(samples.pdf("x" * pad))
    data = samples.pdf("x" * pad)
    assert len(data) == n
    return data


def rows(config: dict[str, Any], sql: str, **params: Any) -> list[Any]:
    engine = create_engine(config["DB_URL"])
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", sorted(samples.ACCEPTED))
def test_every_accepted_format_round_trips_byte_for_byte(wallet, kind):
    _, rpc, _ = wallet
    build, ext, content_type = samples.ACCEPTED[kind]
    data = build()
    anne = Person()
    doc = rpc.upload_document(anne.token, f"mon fichier{ext}", b64(data), "Mon document", None)
    assert doc["size"] == len(data) and doc["content_type"] == content_type
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["filename"] == f"mon fichier{ext}"
    got = rpc.read_document(anne.token, doc["id"])
    assert unb64(got["content_b64"]) == data
    assert got["content_type"] == content_type


@pytest.mark.parametrize("name", sorted(samples.REFUSED))
def test_refused_contents_whatever_their_name(wallet, name):
    _, rpc, _ = wallet
    anne = Person()
    problem = remote_error("FormatRefused", rpc.upload_document, anne.token, "justificatif.pdf",
                           b64(samples.REFUSED[name]), None, None)
    assert ".pdf" in problem["detail"] and ".odt" in problem["detail"]
    assert problem["extra"]["accepted"] == [".doc", ".pdf", ".rtf", ".odt", ".gif", ".jpg", ".jpeg", ".png", ".tif"]
    assert rpc.list_documents(anne.token)["items"] == []


def test_size_limit_states_the_limit(wallet):
    _, rpc, config = wallet
    limit = config["MAX_UPLOAD_BYTES"]
    anne = Person()
    at_limit = pdf_of_size(limit)
    assert rpc.upload_document(anne.token, "a.pdf", b64(at_limit))["size"] == limit
    over = pdf_of_size(limit + 1)
    problem = remote_error("FileTooLarge", rpc.upload_document, anne.token, "b.pdf", b64(over))
    assert "2 Mo" in problem["detail"] and problem["extra"]["limit_bytes"] == limit


def test_quota_is_a_clear_error(start_wallet):
    _, config = start_wallet(QUOTA_BYTES=3000)
    anne = Person()
    with ClusterRpcProxy(config, timeout=30) as rpc:
        data, _ = marker_pdf(2000)
        rpc.wallet.upload_document(anne.token, "a.pdf", b64(data))
        problem = remote_error("QuotaExceeded", rpc.wallet.upload_document, anne.token, "b.pdf", b64(data))
        assert "plein" in problem["detail"]
        assert len(rpc.wallet.list_documents(anne.token)["items"]) == 1
        # another citizen has their own quota
        rpc.wallet.upload_document(Person().token, "a.pdf", b64(data))


def test_list_rename_delete_and_nobody_else_sees_a_document(wallet):
    _, rpc, _ = wallet
    anne, bob = Person(), Person()
    agent, admin = Person(("citizen", "agent"), "Agent Dupont"), Person(("citizen", "admin"), "Admin")
    first = rpc.upload_document(anne.token, "a.png", b64(samples.png()))
    second = rpc.upload_document(anne.token, "b.gif", b64(samples.gif()), "Photo", "identite")
    listed = rpc.list_documents(anne.token)
    assert [d["id"] for d in listed["items"]] == [second["id"], first["id"]]  # newest first
    assert listed["used_bytes"] == first["size"] + second["size"]
    for other in (bob, agent, admin):
        assert rpc.list_documents(other.token)["items"] == []
        for method, extra in (("get_document", ()), ("read_document", ()), ("read_document_part", (0,)),
                              ("rename_document", ("x.png",)), ("delete_document", ()), ("access_log", ()),
                              ("share_document", ("demande:abc",)), ("submit_justificatif", ("identite",))):
            remote_error("DocumentNotFound", getattr(rpc, method), other.token, first["id"], *extra)
    renamed = rpc.rename_document(anne.token, first["id"], "../../etc/passwd\u202e.png")
    assert renamed["filename"] == "passwd.png"
    rpc.delete_document(anne.token, first["id"])
    remote_error("DocumentNotFound", rpc.read_document, anne.token, first["id"])
    assert [d["id"] for d in rpc.list_documents(anne.token)["items"]] == [second["id"]]
    remote_error("Unauthorized", rpc.list_documents, "not-a-token")


def test_no_plaintext_in_the_object_store_nor_under_var(wallet, test_env):
    _, rpc, config = wallet
    anne = Person()
    data, marker = marker_pdf(300_000)
    doc = rpc.upload_document(anne.token, "secret.pdf", b64(data))
    rpc.share_document(anne.token, doc["id"], "demande:d1")
    rpc.submit_justificatif(anne.token, doc["id"], "domicile")
    store = ObjectStore.from_config(config["S3"])
    names = store.list(f"{anne.id}/")
    assert len(names) == 3  # the document, the demande copy, the review copy
    for name in store.list():
        blob = store.read(name)
        # Not `b"%PDF" not in blob`: four bytes turn up by chance in megabytes of ciphertext
        # (it happened); a plaintext copy would start with them, and would hold the marker.
        assert marker not in blob and data[:64] not in blob and not blob.startswith(b"%PDF"), name
    for path in Path(test_env.tmp).rglob("*"):
        if path.is_file():
            assert marker not in path.read_bytes(), path


def test_master_key_rotation_keeps_every_document_readable(start_wallet, test_env):
    old = MasterKeyring.from_secret(test_env.master_key)
    both = old.with_new_key("k2")
    new_only = both.without_key(old.current_id)
    anne, bob = Person(), Person()
    container, config = start_wallet()
    with ClusterRpcProxy(config, timeout=30) as rpc:
        a = rpc.wallet.upload_document(anne.token, "a.pdf", b64(samples.pdf("Anne")))
        b = rpc.wallet.upload_document(bob.token, "b.rtf", b64(samples.rtf()))
    store = ObjectStore.from_config(config["S3"])
    before = {n: store.read(n) for n in store.list(f"{anne.id}/") + store.list(f"{bob.id}/")}
    container.stop()
    container, config = start_wallet(MASTER_KEY=both.to_secret())
    with ClusterRpcProxy(config, timeout=30) as rpc:
        done = rpc.wallet.rewrap_owner_keys(100000)
        assert done["remaining"] == 0 and done["rewrapped"] >= 2
    container.stop()
    ids = rows(config, "SELECT DISTINCT master_key_id FROM owner_key")
    assert [r[0] for r in ids] == ["k2"]
    _, config = start_wallet(MASTER_KEY=new_only.to_secret())
    with ClusterRpcProxy(config, timeout=30) as rpc:
        assert unb64(rpc.wallet.read_document(anne.token, a["id"])["content_b64"]) == samples.pdf("Anne")
        assert unb64(rpc.wallet.read_document(bob.token, b["id"])["content_b64"]) == samples.rtf()
    # objects untouched: rotation rewrote keys only
    assert {n: store.read(n) for n in before} == before
    # a replica still on the old keyring leaves keys it cannot unwrap alone
    container, config = start_wallet()
    with ClusterRpcProxy(config, timeout=30) as rpc:
        assert rpc.wallet.rewrap_owner_keys(100000)["rewrapped"] == 0
    container.stop()
    # back to the session's key, for the other tests sharing this database
    _, config = start_wallet(MASTER_KEY=f"{new_only.to_secret()},{old.to_secret()}")
    with ClusterRpcProxy(config, timeout=30) as rpc:
        assert rpc.wallet.rewrap_owner_keys(100000)["remaining"] == 0


def test_account_deleted_shreds_keys_and_objects(wallet):
    container, rpc, config = wallet
    anne, bob = Person(), Person()
    doc = rpc.upload_document(anne.token, "a.pdf", b64(samples.pdf()))
    rpc.share_document(anne.token, doc["id"], "demande:d9")
    kept = rpc.upload_document(bob.token, "b.pdf", b64(samples.pdf()))
    store = ObjectStore.from_config(config["S3"])
    assert store.list(f"{anne.id}/")
    payload = events.payload(account_id=anne.id)
    with entrypoint_waiter(container, "on_account_deleted"):
        event_dispatcher(config)("identity", events.ACCOUNT_DELETED, payload)
    assert rows(config, "SELECT * FROM owner_key WHERE owner_id = :o", o=anne.id) == []
    assert rows(config, "SELECT * FROM document WHERE owner_id = :o", o=anne.id) == []
    assert rows(config, "SELECT * FROM shared_copy WHERE owner_id = :o", o=anne.id) == []
    assert store.list(f"{anne.id}/") == []
    assert rpc.list_documents(anne.token)["items"] == []
    remote_error("DocumentNotFound", rpc.read_document, anne.token, doc["id"])
    assert rpc.read_document(bob.token, kept["id"])["size"] == kept["size"]
    with entrypoint_waiter(container, "on_account_deleted"):  # redelivery is harmless
        event_dispatcher(config)("identity", events.ACCOUNT_DELETED, payload)


def test_shared_copies_staff_rule_and_access_log(wallet):
    _, rpc, _ = wallet
    anne, bob = Person(), Person()
    agent = Person(("citizen", "agent"), "Agent Dupont")
    doc = rpc.upload_document(anne.token, "avis.pdf", b64(samples.pdf("avis")))
    shared = rpc.share_document(anne.token, doc["id"], "demande:42")
    assert shared["sha256"] == doc["sha256"] and shared["shared_id"] != doc["id"]
    assert unb64(rpc.read_shared(agent.token, shared["shared_id"])["content_b64"]) == samples.pdf("avis")
    remote_error("DocumentNotFound", rpc.read_shared, bob.token, shared["shared_id"])
    # the private document itself stays out of the agent's reach
    remote_error("DocumentNotFound", rpc.read_shared, agent.token, doc["id"])
    direct = rpc.store_shared(anne.token, "demande:43", "photo.jpg", b64(samples.jpeg()))
    assert rpc.read_shared(anne.token, direct["shared_id"])["content_type"] == "image/jpeg"
    remote_error("InvalidWalletData", rpc.share_document, anne.token, doc["id"], "../etc")
    rpc.read_document(anne.token, doc["id"])
    log = rpc.access_log(anne.token, doc["id"])
    assert [(e["actor_role"], e["service"]) for e in log] == [("owner", "portail"), ("agent", "portail")]
    assert log[1]["actor_name"] == "Agent Dupont" and log[1]["scope"] == "demande:42"


class Listener:
    name = "wallet_event_listener"
    received: list[tuple[str, dict[str, Any]]] = []

    @event_handler("wallet", events.JUSTIFICATIF_VALIDATED)
    def validated(self, payload):
        self.received.append((events.JUSTIFICATIF_VALIDATED, payload))

    @event_handler("wallet", events.JUSTIFICATIF_REFUSED)
    def refused(self, payload):
        self.received.append((events.JUSTIFICATIF_REFUSED, payload))

    @event_handler("wallet", events.JUSTIFICATIF_EXPIRING)
    def expiring(self, payload):
        self.received.append((events.JUSTIFICATIF_EXPIRING, payload))


def test_justificatif_review_reuse_and_reminder(wallet, container_factory):
    container, rpc, config = wallet
    listener = container_factory(Listener, config)
    listener.start()
    Listener.received.clear()
    anne = Person()
    agent = Person(("citizen", "agent"), "Agent Dupont")
    doc = rpc.upload_document(anne.token, "facture.pdf", b64(samples.pdf("EDF")), "Facture EDF")
    j = rpc.submit_justificatif(anne.token, doc["id"], "domicile")
    assert j["status"] == "pending" and j["title"] == "Facture EDF"
    assert rpc.find_valid_justificatif(anne.token, "domicile") is None
    remote_error("StaffOnly", rpc.validate_justificatif, anne.token, j["id"], "2030-01-01")
    remote_error("StaffOnly", rpc.review_justificatifs, anne.token)
    pending = rpc.review_justificatifs(agent.token, "pending")["items"]
    assert j["id"] in [p["id"] for p in pending]
    assert unb64(rpc.read_justificatif(agent.token, j["id"])["content_b64"]) == samples.pdf("EDF")
    problem = remote_error("InvalidWalletData", rpc.validate_justificatif, agent.token, j["id"], "2001-01-01")
    assert "valid_until" in problem["errors"]
    soon = (date.today() + timedelta(days=10)).isoformat()
    with entrypoint_waiter(listener, "validated"):
        done = rpc.validate_justificatif(agent.token, j["id"], soon)
    assert done["status"] == "validated" and done["valid_until"] == soon
    remote_error("WrongState", rpc.refuse_justificatif, agent.token, j["id"], "trop tard")
    found = rpc.find_valid_justificatif(anne.token, "domicile")
    assert found["justificatif_id"] == j["id"] and found["valid_until"] == soon
    copy = rpc.share_justificatif(anne.token, j["id"], "demande:77")
    assert unb64(rpc.read_shared(agent.token, copy["shared_id"])["content_b64"]) == samples.pdf("EDF")
    # the agent's reads show in the owner's log
    assert {e["actor_role"] for e in rpc.access_log(anne.token, doc["id"])} == {"agent"}
    with entrypoint_waiter(listener, "expiring"):
        with entrypoint_hook(container, "justificatif_reminders") as remind:
            remind()
    with entrypoint_hook(container, "justificatif_reminders") as remind:
        remind()  # once only
    kinds = [k for k, p in Listener.received if p["justificatif_id"] == j["id"]]
    assert kinds == [events.JUSTIFICATIF_VALIDATED, events.JUSTIFICATIF_EXPIRING]
    payload = Listener.received[-1][1]
    assert payload["account_id"] == anne.id and payload["url"].endswith("/porte-documents/justificatifs")
    # refusal with a reason
    other = rpc.submit_justificatif(anne.token, doc["id"], "identite")
    remote_error("InvalidWalletData", rpc.refuse_justificatif, agent.token, other["id"], "  ")
    with entrypoint_waiter(listener, "refused"):
        refused = rpc.refuse_justificatif(agent.token, other["id"], "Document illisible")
    assert refused["status"] == "refused" and refused["reason"] == "Document illisible"
    statuses = {x["id"]: x["status"] for x in rpc.list_justificatifs(anne.token)}
    assert statuses == {j["id"]: "validated", other["id"]: "refused"}
    exported = rpc.export_personal_data(anne.id)
    assert {x["id"] for x in exported["justificatifs"]} == {j["id"], other["id"]}
    assert [d["id"] for d in exported["documents"]] == [doc["id"]]


def test_a_whole_upload_is_stored_in_parts_written_side_by_side(start_wallet):
    container, config = start_wallet(MAX_UPLOAD_BYTES=3 * 1024 * 1024)
    anne = Person()
    data, marker = marker_pdf(2_500_000)
    with ClusterRpcProxy(config, timeout=30) as rpc:
        w = rpc.wallet
        doc = w.upload_document(anne.token, "gros.pdf", data)  # one message
        assert doc["parts"] == 3 and doc["size"] == len(data)
        store = ObjectStore.from_config(config["S3"])
        names = store.list(f"{anne.id}/{doc['id']}/")
        assert len(names) == 3 and all(marker not in store.read(n) for n in names)
        assert w.read_document(anne.token, doc["id"], raw=True)["content"] == data
        assert b"".join(w.read_document_part(anne.token, doc["id"], i, raw=True)["content"] for i in range(3)) == data
        shared = w.share_document(anne.token, doc["id"], "demande:d9")  # copied part by part, side by side
        agent = Person(("citizen", "agent"), "Agent Dupont")
        assert w.read_shared(agent.token, shared["shared_id"], raw=True)["content"] == data
        assert len(store.list(f"{anne.id}/{shared['shared_id']}/")) == 3


def test_chunked_upload_and_download_part_by_part(start_wallet):
    _, config = start_wallet(MAX_UPLOAD_BYTES=3 * 1024 * 1024)
    anne = Person()
    data, _ = marker_pdf(2_500_000)
    part = 1024 * 1024
    with ClusterRpcProxy(config, timeout=30) as rpc:
        w = rpc.wallet
        up = w.begin_upload(anne.token, "gros.pdf", len(data), "Gros", None)
        assert up["part_size"] == part
        # parts in any order (any replica may take any part)
        for index in reversed(range(3)):
            w.upload_part(anne.token, up["upload_id"], index, b64(data[index * part:(index + 1) * part]))
        doc = w.finish_upload(anne.token, up["upload_id"], None, None)
        assert doc["sha256"] == hashlib.sha256(data).hexdigest() and doc["parts"] == 3
        got = b"".join(unb64(w.read_document_part(anne.token, doc["id"], i)["content_b64"]) for i in range(3))
        assert got == data
        assert len(w.access_log(anne.token, doc["id"])) == 1  # one download, one entry
        # over the limit while sending
        up = w.begin_upload(anne.token, "trop.pdf", None, None, None)
        for index in range(3):
            w.upload_part(anne.token, up["upload_id"], index, b64(b"x" * part))
        remote_error("FileTooLarge", w.upload_part, anne.token, up["upload_id"], 3, b64(b"x" * part))
        w.abort_upload(anne.token, up["upload_id"])
        # refused by content at the end: nothing stays
        up = w.begin_upload(anne.token, "faux.pdf", None, None, None)
        w.upload_part(anne.token, up["upload_id"], 0, b64(samples.REFUSED["html"]))
        remote_error("FormatRefused", w.finish_upload, anne.token, up["upload_id"], None, None)
        assert [d["id"] for d in w.list_documents(anne.token)["items"]] == [doc["id"]]
    store = ObjectStore.from_config(config["S3"])
    assert len(store.list(f"{anne.id}/")) == 3


def test_store_down_is_unavailable_and_leaves_no_row(start_wallet, test_env):
    s3 = dict(test_env.service_config("wallet")["S3"], endpoint="127.0.0.1:9")  # nothing listens there
    _, config = start_wallet(S3=s3)
    anne = Person()
    with ClusterRpcProxy(config, timeout=60) as rpc:
        problem = remote_error("StoreUnavailable", rpc.wallet.upload_document, anne.token, "a.pdf",
                               b64(samples.pdf()))
        assert "Réessayez" in problem["detail"]
        assert rpc.wallet.list_documents(anne.token)["items"] == []
    assert rows(config, "SELECT * FROM document WHERE owner_id = :o", o=anne.id) == []


def test_service_refuses_to_start_without_master_key(container_factory, test_env):
    from .conftest import WalletUnderTest

    container = container_factory(WalletUnderTest, test_env.service_config("wallet", MASTER_KEY=None))
    with pytest.raises(RuntimeError, match="master key"):
        container.start()


def test_call_origin_names_the_calling_service():
    from guichet_wallet.dependencies import CallOrigin

    class Ctx:
        call_id_stack = ["demarches.attachment.1", "wallet.read_shared.2"]

    assert CallOrigin().get_dependency(Ctx()) == "demarches"
    Ctx.call_id_stack = ["standalone_rpc_proxy.call.1", "wallet.read_shared.2"]
    assert CallOrigin().get_dependency(Ctx()) == "portail"



def test_janitor_finishes_what_a_crash_left(wallet, test_env):
    container, rpc, config = wallet
    anne = Person()
    kept = rpc.upload_document(anne.token, "a.pdf", b64(samples.pdf()))
    # a crash after the objects were written but before the row became active, long ago
    up = rpc.begin_upload(anne.token, "crash.pdf", None, None, None)
    rpc.upload_part(anne.token, up["upload_id"], 0, b64(samples.pdf()))
    engine = create_engine(config["DB_URL"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE document SET created_at = :t WHERE id = :i"),
                     {"t": "2000-01-01 00:00:00.000000", "i": up["upload_id"]})
    engine.dispose()
    store = ObjectStore.from_config(config["S3"])
    assert len(store.list(f"{anne.id}/")) == 2
    with entrypoint_hook(container, "rotate_and_clean") as clean:
        clean()
    assert store.list(f"{anne.id}/") == [f"{anne.id}/{kept['id']}/000000"]
    assert rows(config, "SELECT id FROM document WHERE owner_id = :o", o=anne.id) == [(kept["id"],)]
    assert rows(config, "SELECT * FROM upload_part WHERE document_id = :d", d=up["upload_id"]) == []


def test_bad_arguments_are_4xx_errors(wallet):
    _, rpc, _ = wallet
    anne = Person()
    for content in ("pas du base64 !", "aGVsbG8", None, 12, "aGVs\nbG8="):
        remote_error("InvalidWalletData", rpc.upload_document, anne.token, "a.pdf", content)
    remote_error("InvalidWalletData", rpc.upload_document, anne.token, "a.pdf", b64(samples.pdf()), "t" * 201)
    remote_error("InvalidWalletData", rpc.upload_document, anne.token, "a.pdf", b64(samples.pdf()), None, "../x")
    remote_error("DocumentNotFound", rpc.get_document, anne.token, None)
    remote_error("InvalidWalletData", rpc.submit_justificatif, anne.token,
                 rpc.upload_document(anne.token, "a.pdf", b64(samples.pdf()))["id"], "")
    assert rpc.find_valid_justificatif(anne.token, None) is None


def test_expired_justificatif_is_no_longer_taken(wallet):
    _, rpc, config = wallet
    anne = Person()
    agent = Person(("citizen", "agent"), "Agent Dupont")
    doc = rpc.upload_document(anne.token, "cni.png", b64(samples.png()))
    j = rpc.submit_justificatif(anne.token, doc["id"], "identite")
    rpc.validate_justificatif(agent.token, j["id"], (date.today() + timedelta(days=5)).isoformat())
    assert rpc.find_valid_justificatif(anne.token, "identite")["justificatif_id"] == j["id"]
    engine = create_engine(config["DB_URL"])
    with engine.begin() as conn:  # time passes
        conn.execute(text("UPDATE justificatif SET valid_until = :d WHERE id = :i"),
                     {"d": (date.today() - timedelta(days=1)).isoformat(), "i": j["id"]})
    engine.dispose()
    assert rpc.find_valid_justificatif(anne.token, "identite") is None
    assert [x["status"] for x in rpc.list_justificatifs(anne.token)] == ["expired"]
    remote_error("WrongState", rpc.share_justificatif, anne.token, j["id"], "demande:1")
    expired = rpc.review_justificatifs(agent.token, "expired")["items"]
    assert j["id"] in [x["id"] for x in expired]


def test_file_bytes_travel_raw_in_msgpack_and_base64_in_json(wallet):
    container, rpc, config = wallet  # the default config: MessagePack, as the gateway
    anne, agent = Person(), Person(("citizen", "agent"), "Agent Dupont")
    data = samples.pdf("brut")
    doc = rpc.upload_document(anne.token, "brut.pdf", data)  # raw bytes
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    raw = rpc.read_document(anne.token, doc["id"], raw=True)
    assert raw["content"] == data and "content_b64" not in raw
    assert unb64(rpc.read_document(anne.token, doc["id"])["content_b64"]) == data  # the default is unchanged
    part = rpc.read_document_part(anne.token, doc["id"], 0, raw=True)
    assert part["content"] == data and part["parts"] == 1
    up = rpc.begin_upload(anne.token, "parts.pdf", None, None, None)
    rpc.upload_part(anne.token, up["upload_id"], 0, data)
    assert rpc.finish_upload(anne.token, up["upload_id"], None, None)["sha256"] == doc["sha256"]
    shared = rpc.store_shared(anne.token, "demande:77", "brut.pdf", data)
    assert rpc.read_shared(agent.token, shared["shared_id"], raw=True)["content"] == data
    # a JSON caller (older gateway, plain client) still works, base64 both ways, same views
    with ClusterRpcProxy({**config, "serializer": "json"}, timeout=30) as json_rpc:
        w = json_rpc.wallet
        d2 = w.upload_document(anne.token, "b64.pdf", b64(data))
        assert unb64(w.read_document(anne.token, d2["id"])["content_b64"]) == data
        assert w.list_documents(anne.token) == rpc.list_documents(anne.token)
        assert w.access_log(anne.token, doc["id"]) == rpc.access_log(anne.token, doc["id"])
        assert w.get_shared(anne.token, shared["shared_id"]) == rpc.get_shared(anne.token, shared["shared_id"])
        remote_error("InvalidWalletData", w.upload_document, anne.token, "x.pdf", "%%%")
    remote_error("InvalidWalletData", rpc.upload_document, anne.token, "x.pdf", 12)
    # events stay JSON (the gateway's live stream reads them with pika)
    (store,) = [d for d in container.dependencies if d.attr_name == "uow"]
    assert store.publisher.serializer == "json"
