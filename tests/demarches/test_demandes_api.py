"""Démarches through the gateway, on the real stack: catalogue, drafts, steps, attachments,
submission, the citizen's status rules, anonymous tracking."""
from __future__ import annotations

import io
import uuid

from .helpers import ACTE, ADDRESS, fill_acte, pdf, start_acte, submitted_acte, upload


def test_catalogue_has_the_three_kinds_of_demarche(client):
    r = client.get("/api/v1/demarches")
    assert r.status_code == 200
    by_slug = {d["slug"]: d for d in r.get_json()}
    assert by_slug["acte-de-naissance"]["online"] is True
    assert by_slug["acte-de-naissance"]["audience"] == "individual"
    assert by_slug["subvention-association"]["audience"] == "association"
    assert by_slug["carte-identite"]["online"] is False
    d = client.get("/api/v1/demarches/acte-de-naissance").get_json()
    assert [s["id"] for s in d["steps"]] == ["demandeur", "acte"]
    f = d["steps"][1]["fields"][0]
    assert {"name", "label", "type", "required"} <= set(f) and f["options"]
    assert d["attachments"] == [{"name": "piece_identite", "label": "Pièce d'identité du demandeur",
                                 "kind": "identite", "required": True,
                                 "hint": "Carte nationale d'identité ou passeport en cours de validité."}]
    statuses = {s["slug"]: s["done"] for s in d["statuses"]}
    assert {"brouillon": False, "en_attente": False, "en_traitement": False, "clos": True,
            "refuse": True}.items() <= statuses.items()
    assert client.get("/api/v1/demarches/nope").status_code == 404


def test_draft_is_prefilled_from_the_profile_and_only_its_owner_sees_it(make_citizen):
    anne = make_citizen("prefill", first_name="Anne", last_name="Martin")
    other = make_citizen("other")
    r = anne.post("/api/v1/demandes", json={"demarche": "acte-de-naissance"})
    assert r.status_code == 201
    assert r.get_json()["status"] == "brouillon"
    did = r.get_json()["id"]
    d = anne.get(f"/api/v1/demandes/{did}").get_json()
    assert d["answers"]["prenom"] == "Anne" and d["answers"]["nom"] == "Martin"
    assert d["answers"]["courriel"] == anne.email
    assert d["tracking_number"] is None
    assert d["history"][0]["status"] == "brouillon"
    assert other.get(f"/api/v1/demandes/{did}").status_code == 404
    assert other.put(f"/api/v1/demandes/{did}/steps/acte", json={"data": ACTE}).status_code == 404
    assert other.delete(f"/api/v1/demandes/{did}").status_code == 404


def test_steps_are_validated_per_field_and_saves_are_idempotent(make_citizen):
    c = make_citizen("steps")
    did = start_acte(c)
    r = c.put(f"/api/v1/demandes/{did}/steps/demandeur",
              json={"data": {"courriel": "pas-une-adresse", "adresse": {"street": "1 rue", "postcode": "78",
                                                                         "city": "X"}}})
    assert r.status_code == 422
    body = r.get_json()
    assert r.content_type == "application/problem+json"
    assert set(body["errors"]) == {"courriel", "adresse"}
    r = c.put(f"/api/v1/demandes/{did}/steps/acte", json={"data": dict(ACTE, nombre="beaucoup",
                                                                       type_acte="inconnu")})
    assert set(r.get_json()["errors"]) == {"nombre", "type_acte"}
    # a required field shown by a condition: "pour un membre du foyer" needs the member
    r = c.put(f"/api/v1/demandes/{did}/steps/acte", json={"data": dict(ACTE, pour_qui="foyer")})
    assert r.status_code == 422 and "membre_foyer" in r.get_json()["errors"]
    assert c.put(f"/api/v1/demandes/{did}/steps/nope", json={"data": {}}).status_code == 404
    assert c.put(f"/api/v1/demandes/{did}/steps/acte", json={"data": "x"}).status_code == 422
    fill_acte(c, did)
    first = c.get(f"/api/v1/demandes/{did}").get_json()["answers"]
    fill_acte(c, did)  # saving the same step twice changes nothing
    assert c.get(f"/api/v1/demandes/{did}").get_json()["answers"] == first
    assert first["adresse"] == ADDRESS and first["nombre"] == 1


def test_submit_checks_everything_then_is_idempotent(make_citizen):
    c = make_citizen("submit")
    did = start_acte(c)
    r = c.post(f"/api/v1/demandes/{did}/submit")
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    assert {"adresse", "date_naissance", "piece_identite"} <= set(errors)
    fill_acte(c, did)
    r = c.post(f"/api/v1/demandes/{did}/submit")
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"piece_identite"}
    att = upload(c, did)
    assert att["requirement"] == "piece_identite" and att["filename"] == "identite.pdf" and att["id"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    r1 = c.post(f"/api/v1/demandes/{did}/submit", headers=key)
    r2 = c.post(f"/api/v1/demandes/{did}/submit", headers=key)
    assert r1.status_code == r2.status_code == 200
    assert r1.get_json() == r2.get_json()
    assert r1.get_json()["status"] == "en_attente"
    number = r1.get_json()["tracking_number"]
    assert len(number.replace("-", "")) >= 12
    assert c.post(f"/api/v1/demandes/{did}/submit").status_code == 409  # already sent
    mine = c.get("/api/v1/demandes").get_json()
    assert [(i["id"], i["status"], i["tracking_number"]) for i in mine["items"]] == [(did, "en_attente", number)]


def test_an_idempotency_key_serves_one_submission_only(make_citizen):
    c = make_citizen("idemsub")
    key = {"Idempotency-Key": "envoi-" + uuid.uuid4().hex}
    first, second = start_acte(c), start_acte(c)
    for did in (first, second):
        fill_acte(c, did)
        upload(c, did)
    sent = c.post(f"/api/v1/demandes/{first}/submit", headers=key)
    assert sent.status_code == 200
    r = c.post(f"/api/v1/demandes/{second}/submit", headers=key)
    assert r.status_code == 409 and "idempotence" in r.get_json()["detail"]
    assert c.get(f"/api/v1/demandes/{second}").get_json()["status"] == "brouillon"  # nothing sent
    assert c.post(f"/api/v1/demandes/{first}/submit", headers=key).get_json() == sent.get_json()
    assert c.post(f"/api/v1/demandes/{second}/submit").status_code == 200  # without the key: sent


def test_idempotency_key_on_create_makes_one_draft(make_citizen):
    c = make_citizen("idem")
    key = {"Idempotency-Key": "cle-" + uuid.uuid4().hex}
    a = c.post("/api/v1/demandes", json={"demarche": "acte-de-naissance"}, headers=key)
    b = c.post("/api/v1/demandes", json={"demarche": "acte-de-naissance"}, headers=key)
    assert a.get_json()["id"] == b.get_json()["id"]
    assert c.get("/api/v1/demandes").get_json()["total"] == 1


def test_tracking_number_shows_status_and_nothing_personal(make_citizen, client):
    c = make_citizen("track", first_name="Zéphyrin", last_name="Personnel")
    did, number = submitted_acte(c)
    r = client.get(f"/api/v1/track/{number}")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "en_attente" and body["demarche"] == "Demande d'acte de naissance"
    assert "updated_at" in body
    text = r.get_data(as_text=True)
    for secret in ("Zéphyrin", "Zephyrin", "Personnel", c.email, did, "Lilas", "1990"):
        assert secret not in text
    assert client.get(f"/api/v1/track/{number.lower().replace('-', ' ')}").status_code == 200
    assert client.get("/api/v1/track/GU-0000-0000-0000").status_code == 404
    assert client.get("/api/v1/track/n'importe quoi").status_code == 404


def test_citizen_modifies_or_cancels_only_while_en_attente(make_citizen, agent):
    c = make_citizen("rules")
    did, _ = submitted_acte(c)
    r = c.patch(f"/api/v1/demandes/{did}", json={"data": {"nombre": 2}})
    assert r.status_code == 200 and r.get_json()["answers"]["nombre"] == 2
    assert c.patch(f"/api/v1/demandes/{did}", json={"data": {}}).status_code == 200
    assert c.patch(f"/api/v1/demandes/{did}", json={"data": {"nombre": 0}}).status_code == 422
    assert c.delete(f"/api/v1/demandes/{did}").status_code == 409  # not a draft
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/transition", json={"to": "en_traitement", "comment": "Pris"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert c.patch(f"/api/v1/demandes/{did}", json={"data": {"nombre": 3}}).status_code == 409
    assert c.post(f"/api/v1/demandes/{did}/cancel").status_code == 409
    assert c.put(f"/api/v1/demandes/{did}/steps/acte", json={"data": ACTE}).status_code == 409
    # another one, cancelled while en attente
    did2, number2 = submitted_acte(c)
    r = c.post(f"/api/v1/demandes/{did2}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "annule"
    assert c.post(f"/api/v1/demandes/{did2}/cancel").status_code == 409
    # a draft is deleted
    did3 = start_acte(c)
    assert c.patch(f"/api/v1/demandes/{did3}", json={"data": {"nombre": 2}}).status_code == 409
    assert c.delete(f"/api/v1/demandes/{did3}").status_code == 204
    assert c.get(f"/api/v1/demandes/{did3}").status_code == 404
    history = c.get(f"/api/v1/demandes/{did}").get_json()["history"]
    assert [h["status"] for h in history][:2] == ["brouillon", "en_attente"]
    assert history[-1]["status"] == "en_traitement" and history[-1]["comment"] == "Pris"
    assert all(h["at"] for h in history)


def test_lists_are_paged_newest_first(make_citizen):
    c = make_citizen("pages")
    ids = [start_acte(c) for _ in range(3)]
    r = c.get("/api/v1/demandes?page_size=2")
    body = r.get_json()
    assert body["total"] == 3 and body["page"] == 1 and body["page_size"] == 2
    assert [i["id"] for i in body["items"]] == ids[::-1][:2]
    assert all(i["tracking_number"] is None and i["status"] == "brouillon" and i["demarche"] == "acte-de-naissance"
               for i in body["items"])
    assert [i["id"] for i in c.get("/api/v1/demandes?page=2&page_size=2").get_json()["items"]] == [ids[0]]
    assert c.get("/api/v1/demandes").get_json()["page_size"] >= 50
    assert c.get("/api/v1/demandes?page=x").status_code == 400


def test_attachments_are_checked_by_the_wallet(make_citizen):
    c = make_citizen("attach")
    did = start_acte(c)
    r = c.post(f"/api/v1/demandes/{did}/attachments",
               data={"requirement": "piece_identite", "file": (io.BytesIO(b"#!/bin/sh\necho hi\n"), "x.pdf")},
               content_type="multipart/form-data")
    assert r.status_code == 415
    r = c.post(f"/api/v1/demandes/{did}/attachments",
               data={"requirement": "inconnue", "file": (io.BytesIO(pdf()), "a.pdf")},
               content_type="multipart/form-data")
    assert r.status_code == 422
    att = upload(c, did, pdf("Mon passeport"))
    r = c.get(f"/api/v1/demandes/{did}/attachments/{att['id']}")
    assert r.status_code == 200 and r.data == pdf("Mon passeport")
    assert c.get(f"/api/v1/demandes/{did}").get_json()["attachments"][0]["id"] == att["id"]


def test_messages_need_a_sent_demande(make_citizen):
    c = make_citizen("msg")
    did = start_acte(c)
    assert c.post(f"/api/v1/demandes/{did}/messages", json={"body": "Bonjour"}).status_code == 409
    did, _ = submitted_acte(c)
    assert c.post(f"/api/v1/demandes/{did}/messages", json={"body": "  "}).status_code == 422
    r = c.post(f"/api/v1/demandes/{did}/messages", json={"body": "Bonjour, une question."})
    assert r.status_code == 201
    msgs = c.get(f"/api/v1/demandes/{did}/messages").get_json()
    assert [(m["author"], m["body"]) for m in msgs] == [("citizen", "Bonjour, une question.")]


def test_unauthenticated_calls_are_refused(client):
    assert client.get("/api/v1/demandes").status_code == 401
    assert client.post("/api/v1/demandes", json={"demarche": "acte-de-naissance"}).status_code == 401
    assert client.get("/api/v1/backoffice/demandes").status_code == 401


def test_information_only_demarche_cannot_be_started(make_citizen):
    c = make_citizen("info")
    assert c.post("/api/v1/demandes", json={"demarche": "carte-identite"}).status_code == 409
    assert c.post("/api/v1/demandes", json={"demarche": "nope"}).status_code == 404
    assert c.post("/api/v1/demandes", json=["x"]).status_code == 400
