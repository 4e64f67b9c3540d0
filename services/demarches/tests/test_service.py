"""The démarches service through the broker (real RabbitMQ, SQLite), with stand-ins for
identity and wallet: rights, justificatifs, events, profile feedback, account deletion."""
from __future__ import annotations

import json
from typing import Any

import pytest
from guichet_common import events
from guichet_common.rpc import ClusterRpcProxy
from nameko.exceptions import RemoteError
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter

from .conftest import STATE, Person

ADDRESS = {"street": "3 rue des Lilas", "postcode": "78000", "city": "Versailles"}
ACTE = {"pour_qui": "moi", "date_naissance": "1990-04-12", "type_acte": "copie_integrale", "nombre": 1}


@pytest.fixture
def rpc(services: dict[str, Any], test_env: Any) -> Any:
    with ClusterRpcProxy(test_env.service_config("demarches"), timeout=15) as proxy:
        yield proxy.demarches


def kind_of(fn: Any, *args: Any) -> str:
    with pytest.raises(RemoteError) as info:
        fn(*args)
    return str(json.loads(info.value.value)["kind"])


def filled(rpc: Any, p: Person) -> str:
    did = rpc.create_demande(p.token, "acte-de-naissance")["id"]
    rpc.save_step(p.token, did, "demandeur", {"adresse": ADDRESS, "telephone": "01 23 45 67 89"})
    rpc.save_step(p.token, did, "acte", ACTE)
    return str(did)


def test_submission_emits_the_acknowledgment_event(rpc, services):
    p = Person()
    did = filled(rpc, p)
    rpc.add_attachment(p.token, did, "piece_identite", "cni.pdf", "UERG")
    with entrypoint_waiter(services["demarches_listener"], "submitted"):
        result = rpc.submit_demande(p.token, did, "k1")
    [(name, payload)] = STATE["events"]
    assert name == events.DEMANDE_SUBMITTED
    assert payload["account_id"] == p.id and payload["demande_id"] == did
    assert payload["tracking_number"] == result["tracking_number"] and payload["status"] == "en_attente"
    assert payload["status_label"] == "En attente" and payload["demarche_title"] == "Demande d'acte de naissance"
    assert payload["url"].endswith(f"/demandes/{did}") and payload["event_id"]
    assert rpc.submit_demande(p.token, did, "k1") == result  # same key: same answer, no second event
    assert rpc.count_in_progress(p.id) == 1


def test_association_rights_are_asked_to_identity(rpc):
    rep, viewer, lost = Person(), Person(), Person()
    STATE["roles"].update({(rep.id, "a1"): "representative", (viewer.id, "a1"): "viewer", (lost.id, "a1"): "boom"})
    assert rpc.create_demande(rep.token, "subvention-association", "a1")["status"] == "brouillon"
    assert kind_of(rpc.create_demande, viewer.token, "subvention-association", "a1") == "forbidden"
    assert kind_of(rpc.create_demande, lost.token, "subvention-association", "a1") == "forbidden"
    assert kind_of(rpc.create_demande, rep.token, "subvention-association", None) == "forbidden"


def test_a_valid_justificatif_is_used_without_asking(rpc):
    p = Person()
    STATE["justificatifs"][(p.id, "identite")] = {"justificatif_id": "j1", "document_id": "d1", "kind": "identite",
                                                  "valid_until": "2030-01-01", "title": "Carte d'identité"}
    did = filled(rpc, p)
    assert rpc.submit_demande(p.token, did)["status"] == "en_attente"
    [att] = rpc.get_demande(p.token, did)["attachments"]
    assert att["requirement"] == "piece_identite" and att["source"] == "justificatif"


def test_missing_pieces_are_listed_and_wallet_errors_are_relayed(rpc):
    p = Person()
    did = filled(rpc, p)
    with pytest.raises(RemoteError) as info:
        rpc.submit_demande(p.token, did)
    body = json.loads(info.value.value)
    assert body["kind"] == "invalid" and body["extra"]["missing"] == ["piece_identite"]
    assert kind_of(rpc.add_attachment, p.token, did, "piece_identite", None, None, "missing") == "not_found"


def test_new_data_feeds_the_profile_only_when_asked(rpc):
    p = Person()
    did = filled(rpc, p)
    rpc.add_attachment(p.token, did, "piece_identite", "cni.pdf", "UERG")
    rpc.submit_demande(p.token, did, None, True)
    [changes] = STATE["updates"]
    assert changes["phone"] == "01 23 45 67 89" and changes["addresses"] == [ADDRESS]
    other = Person()
    did = filled(rpc, other)
    rpc.add_attachment(other.token, did, "piece_identite", "cni.pdf", "UERG")
    rpc.submit_demande(other.token, did)
    assert len(STATE["updates"]) == 1


def test_agent_events_and_citizen_never_sees_notes(rpc, services):
    p, agent = Person(), Person(roles=("citizen", "agent"), name="Agnès Agent")
    did = filled(rpc, p)
    rpc.add_attachment(p.token, did, "piece_identite", "cni.pdf", "UERG")
    rpc.submit_demande(p.token, did)
    assert kind_of(rpc.bo_list, p.token) == "forbidden"
    with entrypoint_waiter(services["demarches_listener"], "status_changed"):
        rpc.bo_transition(agent.token, did, "en_traitement", "Pris en charge")
    with entrypoint_waiter(services["demarches_listener"], "info"):
        rpc.bo_request_info(agent.token, did, "Quelle commune ?")
    with entrypoint_waiter(services["demarches_listener"], "message"):
        rpc.bo_post_message(agent.token, did, "Bonjour")
    rpc.bo_add_note(agent.token, did, "secret interne")
    kinds = [name for name, _ in STATE["events"]]
    assert kinds[-3:] == [events.DEMANDE_STATUS_CHANGED, events.DEMANDE_INFO_REQUESTED, events.DEMANDE_MESSAGE_FROM_AGENT]
    assert STATE["events"][-2][1]["comment"] == "Quelle commune ?"
    assert STATE["events"][-1][1]["body"] == "Bonjour"
    assert "secret interne" not in json.dumps(rpc.get_demande(p.token, did))
    assert "secret interne" not in json.dumps(rpc.export_personal_data(p.id))
    att = rpc.bo_get(agent.token, did)["attachments"][0]
    assert rpc.bo_read_attachment(agent.token, did, att["id"])["content_b64"] == "UERG"


def test_assignment_to_a_colleague_is_checked_with_identity(rpc):
    p, agent, colleague = Person(), Person(roles=("agent",), name="Agnès Agent"), Person()
    did = filled(rpc, p)
    rpc.add_attachment(p.token, did, "piece_identite", "cni.pdf", "UERG")
    rpc.submit_demande(p.token, did)
    assert kind_of(rpc.bo_assign, agent.token, did, colleague.id) == "invalid"  # not staff for identity
    STATE["staff"][colleague.id] = {"id": colleague.id, "name": "Colette Collègue", "email": "c@example.test"}
    got = rpc.bo_assign(agent.token, did, colleague.id, "Nom inventé")
    assert got == {"id": did, "assigned_to": colleague.id, "assigned_name": "Colette Collègue"}
    assert rpc.bo_assign(agent.token, did, "none")["assigned_to"] is None
    assert rpc.bo_assign(agent.token, did)["assigned_name"] == "Agnès Agent"
    assert kind_of(rpc.bo_assign, p.token, did, "me") == "forbidden"


def test_account_deletion_is_idempotent_and_anonymises(rpc, services, test_env):
    p, agent = Person(name="Ophélie Effacée"), Person(roles=("agent",))
    did = filled(rpc, p)
    rpc.add_attachment(p.token, did, "piece_identite", "cni.pdf", "UERG")
    rpc.submit_demande(p.token, did)
    rpc.post_message(p.token, did, "Mon numéro est le 06 00 00 00 00")
    draft = rpc.create_demande(p.token, "acte-de-naissance")["id"]
    dispatch = event_dispatcher(test_env.service_config("demarches"))
    payload = events.payload(account_id=p.id)
    for _ in range(2):  # a redelivery changes nothing
        with entrypoint_waiter(services["demarches"], "on_account_deleted"):
            dispatch("identity", events.ACCOUNT_DELETED, payload)
    d = rpc.bo_get(agent.token, did)
    assert d["anonymised"] and d["applicant_name"] == "Usager supprimé" and d["attachments"] == []
    assert "prenom" not in d["answers"] and d["answers"]["type_acte"] == "copie_integrale"
    assert "06 00" not in json.dumps(d)
    assert kind_of(rpc.bo_get, agent.token, draft) == "not_found"
    assert rpc.count_in_progress(p.id) == 0
    assert rpc.export_personal_data(p.id) == {"demandes": []}
