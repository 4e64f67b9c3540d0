"""The agents' back-office through the gateway; association rights; attachments read by
agents but never the wallet; account deletion anonymising; definitions versioned."""
from __future__ import annotations

import base64
import io
import time
import uuid

import pytest
from nameko.exceptions import RemoteError

from .helpers import ACTE, ADDRESS, fill_acte, pdf, start_acte, submitted_acte


def test_citizen_is_refused_every_backoffice_route(make_citizen):
    c = make_citizen("nobo")
    did, _ = submitted_acte(c)
    assert c.get("/api/v1/backoffice/demandes").status_code == 403
    assert c.get(f"/api/v1/backoffice/demandes/{did}").status_code == 403
    assert c.post(f"/api/v1/backoffice/demandes/{did}/transition", json={"to": "clos"}).status_code == 403
    assert c.post(f"/api/v1/backoffice/demandes/{did}/messages", json={"body": "x"}).status_code == 403
    assert c.get("/api/v1/backoffice/demandes/export.csv").status_code == 403
    assert c.post("/api/v1/backoffice/demarches", json={"slug": "x", "title": "x"}).status_code == 403


def test_agent_processes_a_demande_through_the_workflow(make_citizen, agent):
    c = make_citizen("flow", first_name="Bérénice", last_name="Traitée")
    did, number = submitted_acte(c, pdf("Passeport de Bérénice"))
    # the queue finds it by tracking number, by name, by answer; filters and counts
    r = agent.get(f"/api/v1/backoffice/demandes?q={number}")
    assert r.status_code == 200 and [i["id"] for i in r.get_json()["items"]] == [did]
    assert did in [i["id"] for i in agent.get("/api/v1/backoffice/demandes?q=bérénice traitée").get_json()["items"]]
    r = agent.get("/api/v1/backoffice/demandes?status=en_attente&demarche=acte-de-naissance&counts=1&page_size=500")
    body = r.get_json()
    assert did in [i["id"] for i in body["items"]] and body["counts"]["en_attente"] >= 1
    assert all(i["status"] == "en_attente" for i in body["items"])
    assert did not in [i["id"] for i in agent.get("/api/v1/backoffice/demandes?status=clos&page_size=500")
                       .get_json()["items"]]
    # detail with answers and attachments; the piece's bytes come through the wallet
    d = agent.get(f"/api/v1/backoffice/demandes/{did}").get_json()
    assert d["answers"]["prenom"] == "Bérénice" and d["answers"]["adresse"] == ADDRESS
    [att] = d["attachments"]
    assert att["requirement"] == "piece_identite" and att["filename"] == "identite.pdf"
    r = agent.get(f"/api/v1/backoffice/demandes/{did}/attachments/{att['id']}")
    assert r.status_code == 200 and r.data == pdf("Passeport de Bérénice")
    assert {t["to"] for t in d["transitions"]} == {"en_traitement", "clos", "refuse"}
    # transitions the démarche does not allow are refused
    for bad in ("brouillon", "accordee", "envoye", "nimporte"):
        r = agent.post(f"/api/v1/backoffice/demandes/{did}/transition", json={"to": bad, "comment": ""})
        assert r.status_code == 409, bad
    for missing in ({}, {"to": ""}, {"to": None}, {"status": "clos"}):  # no target: bad input, not a conflict
        r = agent.post(f"/api/v1/backoffice/demandes/{did}/transition", json=missing)
        assert r.status_code == 422 and "to" in r.get_json()["errors"], missing
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/assign", json={})
    assert r.status_code == 200 and r.get_json()["assigned_to"]
    assert did in [i["id"] for i in agent.get("/api/v1/backoffice/demandes?assigned=me&page_size=500")
                   .get_json()["items"]]
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/transition", json={"to": "en_traitement", "comment": "Pris en charge"})
    assert r.status_code == 200 and r.get_json()["status"] == "en_traitement"
    # request information: the demande waits for the citizen's reply
    assert agent.post(f"/api/v1/backoffice/demandes/{did}/request-info", json={"comment": ""}).status_code == 422
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/request-info", json={"comment": "Merci de préciser la commune."})
    assert r.status_code == 200 and r.get_json()["status"] == "info_demandee"
    assert c.get(f"/api/v1/demandes/{did}").get_json()["status"] == "info_demandee"
    r = c.post(f"/api/v1/demandes/{did}/attachments", data={"file": (io.BytesIO(pdf("Complément")), "complement.pdf")},
               content_type="multipart/form-data")  # an extra piece, outside the required ones
    assert r.status_code == 201 and r.get_json()["requirement"] is None
    assert c.post(f"/api/v1/demandes/{did}/messages", json={"body": "Née à Versailles."}).status_code == 201
    assert c.get(f"/api/v1/demandes/{did}").get_json()["status"] == "en_traitement"
    # internal notes stay internal; messages go both ways
    assert agent.post(f"/api/v1/backoffice/demandes/{did}/notes", json={"body": "NOTE-INTERNE-42"}).status_code == 201
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/messages", json={"body": "Votre acte part demain."})
    assert r.status_code == 201
    mine = c.get(f"/api/v1/demandes/{did}")
    assert "NOTE-INTERNE-42" not in mine.get_data(as_text=True)
    assert [m["author"] for m in mine.get_json()["messages"]] == ["agent", "citizen", "agent"]
    assert "NOTE-INTERNE-42" in agent.get(f"/api/v1/backoffice/demandes/{did}").get_data(as_text=True)
    files = agent.get(f"/api/v1/backoffice/demandes/{did}").get_json()["attachments"]
    assert [a["filename"] for a in files] == ["identite.pdf", "complement.pdf"]
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/transition", json={"to": "clos", "comment": "Acte envoyé"})
    assert r.status_code == 200 and r.get_json()["transitions"] == []
    assert agent.post(f"/api/v1/backoffice/demandes/{did}/transition", json={"to": "refuse"}).status_code == 409
    history = c.get(f"/api/v1/demandes/{did}").get_json()["history"]
    assert [h["status"] for h in history] == ["brouillon", "en_attente", "en_traitement", "info_demandee",
                                              "en_traitement", "clos"]
    assert history[-1]["comment"] == "Acte envoyé"
    # CSV export of the filtered list
    r = agent.get(f"/api/v1/backoffice/demandes/export.csv?q={number}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.get_data(as_text=True)
    assert number in text and "Clos" in text and text.count("\n") == 2


def test_custom_workflow_statuses(make_citizen, agent):
    c = make_citizen("wf")
    did, _ = submitted_acte(c)
    agent.post(f"/api/v1/backoffice/demandes/{did}/transition", json={"to": "en_traitement"})
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/transition", json={"to": "envoye", "comment": "Posté"})
    assert r.status_code == 200 and r.get_json()["status_label"] == "Acte envoyé par courrier"
    assert c.get("/api/v1/demandes").get_json()["items"][0]["status"] == "envoye"


def test_backoffice_list_is_paged(agent, make_citizen):
    c = make_citizen("bopage")
    for _ in range(2):
        submitted_acte(c)
    r = agent.get("/api/v1/backoffice/demandes?page_size=1")
    body = r.get_json()
    assert len(body["items"]) == 1 and body["total"] >= 2 and body["page_size"] == 1
    second = agent.get("/api/v1/backoffice/demandes?page_size=1&page=2").get_json()["items"]
    assert second and second[0]["id"] != body["items"][0]["id"]
    assert agent.get("/api/v1/backoffice/demandes?from=hier").status_code == 400
    # totals follow every change at once (the counts per status are cached, but not past a write)
    query = "/api/v1/backoffice/demandes?demarche=acte-de-naissance&status=en_attente&counts=1"
    before = agent.get(query).get_json()
    did, _ = submitted_acte(c)
    after = agent.get(query).get_json()
    assert after["total"] == before["total"] + 1 and after["counts"]["en_attente"] == before["counts"]["en_attente"] + 1
    agent.post(f"/api/v1/backoffice/demandes/{did}/transition", json={"to": "en_traitement"})
    assert agent.get(query).get_json()["total"] == before["total"]
    # drafts never show in the back-office
    draft = start_acte(c)
    assert agent.get(f"/api/v1/backoffice/demandes/{draft}").status_code == 404


def test_agents_read_attachments_but_never_the_wallet(make_citizen, agent, gateway_app):
    c = make_citizen("wallet")
    rpc = gateway_app.extensions["rpc"]
    doc = rpc.call("wallet", "upload_document", c.tokens["access_token"], "rib.pdf",
                   base64.b64encode(pdf("RIB personnel")).decode())
    did = start_acte(c)
    fill_acte(c, did)
    r = c.post(f"/api/v1/demandes/{did}/attachments", json={"wallet_document_id": doc["id"],
                                                              "requirement": "piece_identite"})
    assert r.status_code == 201, r.get_data(as_text=True)
    att = r.get_json()
    assert c.post(f"/api/v1/demandes/{did}/submit").status_code == 200
    r = agent.get(f"/api/v1/backoffice/demandes/{did}/attachments/{att['id']}")
    assert r.status_code == 200 and r.data == pdf("RIB personnel")
    # the wallet document itself stays private
    assert agent.get(f"/api/v1/wallet/documents/{doc['id']}/content").status_code in (403, 404)
    with pytest.raises(RemoteError):
        rpc.call("wallet", "read_document", agent.tokens["access_token"], doc["id"])
    # another citizen cannot attach someone else's document
    other = make_citizen("thief")
    did2 = start_acte(other)
    r = other.post(f"/api/v1/demandes/{did2}/attachments", json={"wallet_document_id": doc["id"],
                                                                   "requirement": "piece_identite"})
    assert r.status_code == 404


def _association_with(admin, members):
    r = admin.post("/api/v1/backoffice/associations", json={"name": "Les Amis du Parc " + uuid.uuid4().hex[:6],
                                                            "rna": "W" + str(uuid.uuid4().int)[:9]})
    assert r.status_code == 201, r.get_data(as_text=True)
    aid = r.get_json()["id"]
    for citizen, role in members:
        r = admin.post(f"/api/v1/backoffice/associations/{aid}/members", json={"email": citizen.email, "role": role})
        assert r.status_code in (200, 201), r.get_data(as_text=True)
    return aid


def test_association_demarche_needs_a_representative(make_citizen, admin, agent):
    rep, viewer, stranger = make_citizen("rep"), make_citizen("viewer"), make_citizen("stranger")
    aid = _association_with(admin, [(rep, "representative"), (viewer, "viewer")])
    r = rep.post("/api/v1/demandes", json={"demarche": "subvention-association", "association_id": aid})
    assert r.status_code == 201, r.get_data(as_text=True)
    did = r.get_json()["id"]
    assert viewer.post("/api/v1/demandes", json={"demarche": "subvention-association",
                                                 "association_id": aid}).status_code == 403
    assert stranger.post("/api/v1/demandes", json={"demarche": "subvention-association",
                                                   "association_id": aid}).status_code == 403
    assert rep.post("/api/v1/demandes", json={"demarche": "subvention-association"}).status_code in (403, 422)
    assert rep.post("/api/v1/demandes", json={"demarche": "subvention-association",
                                              "association_id": "inconnue"}).status_code == 403
    # IBAN checksum, multiple choice, a field shown by a checkbox
    r = rep.put(f"/api/v1/demandes/{did}/steps/banque", json={"data": {"iban": "FR76 3000 6000 0112 3456 7890 188"}})
    assert r.status_code == 422 and "iban" in r.get_json()["errors"]
    r = rep.put(f"/api/v1/demandes/{did}/steps/banque", json={"data": {"iban": "fr7630006000011234567890189"}})
    assert r.status_code == 200 and r.get_json()["answers"]["iban"] == "FR76 3000 6000 0112 3456 7890 189"
    projet = {"intitule": "Fête du parc", "description_projet": "Une fête", "montant": "1500",
              "domaines": ["culture", "sport"], "deja_aidee": True}
    r = rep.put(f"/api/v1/demandes/{did}/steps/projet", json={"data": projet})
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"montant_precedent"}
    r = rep.put(f"/api/v1/demandes/{did}/steps/projet", json={"data": dict(projet, deja_aidee=False)})
    assert r.status_code == 200 and r.get_json()["answers"]["domaines"] == ["sport", "culture"]
    assert r.get_json()["association_id"] == aid
    listed = agent.get(f"/api/v1/backoffice/demandes?association={aid}").get_json()["items"]
    assert listed == []  # still a draft


def test_admin_versions_keep_demandes_on_their_version(make_citizen, admin, agent):
    slug = "essai-" + uuid.uuid4().hex[:8]
    definition = {"slug": slug, "title": "Démarche d'essai", "description": "Pour les tests.", "audience": "individual",
                  "online": True,
                  "steps": [{"id": "infos", "title": "Informations",
                             "fields": [{"name": "objet", "label": "Objet", "type": "text", "required": True}]}],
                  "workflow": {"statuses": [{"slug": "valide", "label": "Validée", "done": True}],
                               "transitions": {"en_attente": ["valide", "refuse"]}}}
    assert agent.post("/api/v1/backoffice/demarches", json=definition).status_code == 403  # agents are not admins
    r = admin.post("/api/v1/backoffice/demarches", json=definition)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert admin.post("/api/v1/backoffice/demarches", json=definition).status_code == 409
    bad = dict(definition, slug="x" + slug, steps=[{"id": "a", "fields": [{"name": "b", "type": "couleur"}]}])
    r = admin.post("/api/v1/backoffice/demarches", json=bad)
    assert r.status_code == 422 and r.get_json()["errors"]
    c = make_citizen("version")
    old = c.post("/api/v1/demandes", json={"demarche": slug}).get_json()["id"]
    assert c.put(f"/api/v1/demandes/{old}/steps/infos", json={"data": {"objet": "Ancien"}}).status_code == 200
    v2 = dict(definition, steps=[{"id": "infos", "title": "Informations",
                                  "fields": [{"name": "objet", "label": "Objet", "type": "text", "required": True},
                                             {"name": "date_evt", "label": "Date", "type": "date", "required": True}]}])
    r = admin.put(f"/api/v1/backoffice/demarches/{slug}", json=v2)
    assert r.status_code == 200 and r.get_json()["version"] == 2
    assert len(client_fields(c, slug)) == 2
    assert c.get(f"/api/v1/demandes/{old}").get_json()["demarche_version"] == 1
    r = c.post(f"/api/v1/demandes/{old}/submit")  # the old version did not ask for the date
    assert r.status_code == 200, r.get_data(as_text=True)
    new = c.post("/api/v1/demandes", json={"demarche": slug}).get_json()["id"]
    assert c.get(f"/api/v1/demandes/{new}").get_json()["demarche_version"] == 2
    c.put(f"/api/v1/demandes/{new}/steps/infos", json={"data": {"objet": "Nouveau"}})
    assert c.post(f"/api/v1/demandes/{new}/submit").status_code == 422
    r = agent.post(f"/api/v1/backoffice/demandes/{old}/transition", json={"to": "valide"})
    assert r.status_code == 200 and r.get_json()["status_label"] == "Validée"


def client_fields(c, slug):
    return c.get(f"/api/v1/demarches/{slug}").get_json()["steps"][0]["fields"]


def test_deleted_account_keeps_submitted_demandes_without_personal_data(make_citizen, agent):
    c = make_citizen("gone", first_name="Ophélie", last_name="Effacée")
    did, number = submitted_acte(c)
    draft = start_acte(c)
    assert c.delete("/api/v1/me").status_code == 409  # a demande is en attente
    agent.post(f"/api/v1/backoffice/demandes/{did}/transition", json={"to": "refuse", "comment": "Hors commune"})
    r = c.delete("/api/v1/me")
    assert r.status_code == 204, r.get_data(as_text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        d = agent.get(f"/api/v1/backoffice/demandes/{did}").get_json()
        if d.get("anonymised"):
            break
        time.sleep(0.3)
    assert d["anonymised"] is True and d["status"] == "refuse" and d["tracking_number"] == number
    text = agent.get(f"/api/v1/backoffice/demandes/{did}").get_data(as_text=True)
    for personal in ("Ophélie", "Effacée", c.email, "Lilas", "78000"):
        assert personal not in text
    assert d["answers"].get("type_acte") == ACTE["type_acte"]  # what the city needs for its records stays
    assert d["attachments"] == []
    assert agent.get(f"/api/v1/backoffice/demandes/{draft}").status_code == 404
    assert agent.get("/api/v1/backoffice/demandes?q=effacée").get_json()["items"] == []


def test_assign_to_oneself_a_colleague_or_nobody(make_citizen, agent, admin):
    c = make_citizen("assign")
    did, _ = submitted_acte(c)
    assert c.get("/api/v1/backoffice/agents").status_code == 403
    staff = agent.get("/api/v1/backoffice/agents").get_json()
    emails = {s["email"]: s for s in staff}
    assert {"agent@guichet.test", "admin@guichet.test"} <= set(emails) and c.email not in emails
    colleague = emails["admin@guichet.test"]
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/assign", json={"agent_id": colleague["id"],
                                                                     "agent_name": "Nom inventé"})
    assert r.status_code == 200 and r.get_json()["assigned_to"] == colleague["id"]
    assert r.get_json()["assigned_name"] == colleague["name"]  # identity names the colleague, not the caller
    me = c.get("/api/v1/me").get_json()
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/assign", json={"agent_id": me["id"]})
    assert r.status_code == 422 and "agent_id" in r.get_json()["errors"]  # a citizen is not a colleague
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/assign", json={"agent_id": "0" * 32})
    assert r.status_code == 422
    assert agent.get(f"/api/v1/backoffice/demandes/{did}").get_json()["assigned_to"] == colleague["id"]
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/assign", json={"agent_id": "none"})
    assert r.status_code == 200 and r.get_json()["assigned_to"] is None
    r = agent.post(f"/api/v1/backoffice/demandes/{did}/assign", json={})
    assert r.status_code == 200 and r.get_json()["assigned_to"] == emails["agent@guichet.test"]["id"]
