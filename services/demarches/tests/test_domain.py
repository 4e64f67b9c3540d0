"""The démarches rules with plain data: definitions, fields, conditions, workflow, numbers."""
from __future__ import annotations

import pytest
from guichet_demarches import domain

DEF = domain.normalize_definition({
    "slug": "essai", "title": "Essai", "audience": "individual",
    "steps": [
        {"id": "a", "title": "A", "fields": [
            {"name": "prenom", "label": "Prénom", "type": "text", "required": True, "prefill": "first_name"},
            {"name": "tel", "label": "Téléphone", "type": "phone", "prefill": "phone"},
            {"name": "adresse", "label": "Adresse", "type": "address", "prefill": "address"},
            {"name": "qui", "label": "Qui", "type": "choice", "required": True, "options": ["moi", "foyer"]},
            {"name": "membre", "label": "Membre", "type": "household_member", "required": True,
             "show_if": {"field": "qui", "equals": "foyer"}},
        ]},
        {"id": "b", "title": "B", "show_if": {"field": "qui", "equals": "foyer"}, "fields": [
            {"name": "lien", "label": "Lien", "type": "text", "required": True}]},
    ],
    "attachments": [{"name": "cni", "label": "CNI", "kind": "identite", "required": True}],
    "workflow": {"statuses": [{"slug": "valide", "label": "Validée", "done": True}],
                 "transitions": {"en_traitement": ["valide", "refuse"]}},
})


def test_iban_checksum():
    assert domain.iban_valid("FR76 3000 6000 0112 3456 7890 189")
    assert domain.iban_valid("DE89370400440532013000")
    assert not domain.iban_valid("FR76 3000 6000 0112 3456 7890 188")
    assert not domain.iban_valid("pas un iban")


@pytest.mark.parametrize("ftype,value,expected", [
    ("email", " a@b.fr ", "a@b.fr"), ("number", "1 500,5", 1500.5), ("number", 3, 3),
    ("date", "2024-02-29", "2024-02-29"), ("checkbox", "oui", True), ("checkbox", False, False),
    ("phone", "+33 1 23 45 67 89", "+33 1 23 45 67 89"), ("text", "", None),
])
def test_clean_value_accepts(ftype, value, expected):
    assert domain.clean_value({"type": ftype, "label": "x"}, value) == expected


@pytest.mark.parametrize("ftype,value", [
    ("email", "pas-une-adresse"), ("number", "douze"), ("number", True), ("date", "2023-02-29"),
    ("date", 12), ("phone", "abc"), ("text", "x" * 501), ("checkbox", "peut-être"), ("iban", "FR00"),
    ("address", {"street": "1 rue", "postcode": "7800", "city": "V"}), ("text", {"a": 1}),
])
def test_clean_value_refuses_with_a_french_message(ftype, value):
    with pytest.raises(ValueError) as info:
        domain.clean_value({"type": ftype, "label": "x"}, value)
    assert str(info.value)[0].isupper()


def test_conditions_show_fields_and_steps():
    merged, errors = domain.validate_step(DEF, "a", {}, {"prenom": "Anne", "qui": "moi"})
    assert errors == {} and [s["id"] for s in domain.visible_steps(DEF, merged)] == ["a"]
    merged, errors = domain.validate_step(DEF, "a", {}, {"prenom": "Anne", "qui": "foyer"})
    assert set(errors) == {"membre"}
    answers = {"prenom": "Anne", "qui": "foyer", "membre": "Léa Martin"}
    assert set(domain.missing_answers(DEF, answers)) == {"lien"}
    # a hidden field's old answer is not sent
    assert domain.visible_answers(DEF, dict(answers, qui="moi")) == {"prenom": "Anne", "qui": "moi"}


def test_unknown_fields_and_bad_data_are_errors():
    _, errors = domain.validate_step(DEF, "a", {}, {"inconnu": 1})
    assert "inconnu" in errors
    _, errors = domain.validate_step(DEF, "a", {}, ["x"])
    assert "data" in errors
    with pytest.raises(KeyError):
        domain.validate_step(DEF, "zz", {}, {})


def test_saving_twice_is_idempotent_and_empty_clears():
    once, _ = domain.validate_step(DEF, "a", {}, {"prenom": "Anne", "qui": "moi", "tel": "0123456789"})
    twice, _ = domain.validate_step(DEF, "a", once, {"prenom": "Anne", "qui": "moi", "tel": "0123456789"})
    assert once == twice
    cleared, _ = domain.validate_step(DEF, "a", once, {"tel": ""})
    assert "tel" not in cleared and cleared["prenom"] == "Anne"


def test_definition_errors_are_listed():
    with pytest.raises(domain.DefinitionError) as info:
        domain.normalize_definition({"slug": "Pas Bon", "title": "", "audience": "tous",
                                     "steps": [{"id": "a", "fields": [{"name": "x", "type": "couleur"},
                                                                      {"name": "x", "type": "text"}]}],
                                     "workflow": {"transitions": {"en_attente": ["brouillon"]}}})
    assert {"slug", "title", "audience", "steps[0].fields[0].type", "steps[0].fields[1].name",
            "workflow.transitions.en_attente"} <= set(info.value.errors)


def test_workflow_defaults_and_custom_statuses():
    assert domain.allowed_transitions(DEF, "en_attente") == ["en_traitement", "clos", "refuse"]
    assert domain.allowed_transitions(DEF, "en_traitement") == ["valide", "refuse"]
    assert domain.allowed_transitions(DEF, "clos") == []
    assert domain.status_label(DEF, "valide") == "Validée"
    assert domain.in_progress_statuses(DEF) == {"en_attente", "en_traitement", "info_demandee"}
    slugs = [s["slug"] for s in domain.public_definition(DEF)["statuses"]]
    assert slugs[:3] == ["brouillon", "en_attente", "en_traitement"] and "valide" in slugs


def test_tracking_numbers_are_random_and_normalised():
    numbers = {domain.new_tracking_number() for _ in range(2000)}
    assert len(numbers) == 2000
    n = next(iter(numbers))
    assert domain.normalize_tracking(n.lower().replace("-", " ")) == n
    assert domain.normalize_tracking("GU-1234") is None and domain.normalize_tracking(None) is None


def test_prefill_and_profile_feedback():
    profile = {"first_name": "Anne", "phone": "", "addresses": [{"street": "1 rue A", "postcode": "78000",
                                                                  "city": "Versailles"}]}
    answers = domain.prefill(DEF, {"prenom": "Annie"}, profile)
    assert answers["prenom"] == "Annie" and answers["adresse"]["city"] == "Versailles" and "tel" not in answers
    changes = domain.profile_changes(DEF, dict(answers, tel="0102030405",
                                               adresse={"street": "2 rue B", "postcode": "78000", "city": "V"}),
                                     profile)
    assert changes["first_name"] == "Annie" and changes["phone"] == "0102030405"
    assert changes["addresses"][0]["street"] == "2 rue B" and len(changes["addresses"]) == 2
    assert domain.profile_changes(DEF, answers, dict(profile, first_name="Annie")) == {}


def test_anonymised_answers_keep_only_closed_choices():
    kept = domain.anonymise_answers(DEF, {"prenom": "Anne", "qui": "foyer", "membre": "Léa", "tel": "01"})
    assert kept == {"qui": "foyer"}


ODD = [None, 1, "x", [], {}, [1], ["a"], {"a": 1}, True, 1.5, [{"name": "a"}], {"field": ["x"], "equals": 1}]


@pytest.mark.parametrize("value", ODD)
def test_any_odd_definition_is_refused_never_a_crash(value):
    base = {"slug": "ok", "title": "T", "steps": [{"id": "a", "fields": [{"name": "b", "type": "text"}]}]}
    variants = [dict(base, **{k: value}) for k in ("slug", "title", "audience", "steps", "attachments", "workflow")]
    variants += [dict(base, workflow={"statuses": value}), dict(base, workflow={"transitions": value}),
                 dict(base, workflow={"transitions": {"en_attente": value}}), dict(base, workflow={"statuses": [value]})]
    for key in ("fields", "show_if", "id"):
        variants.append(dict(base, steps=[{"id": "a", "fields": [{"name": "b", "type": "text"}], key: value}]))
    for key in ("options", "show_if", "type", "prefill", "min", "name"):
        variants.append(dict(base, steps=[{"id": "a", "fields": [{"name": "b", "type": "choice", key: value}]}]))
    for raw in variants:
        try:
            domain.normalize_definition(raw)
        except domain.DefinitionError:
            pass
