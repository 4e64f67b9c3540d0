"""Identity's pure rules, without broker or database."""
from __future__ import annotations

from datetime import date

import pytest
from guichet_identity import domain

TODAY = date(2026, 11, 25)
ME = {"id": "a1", "email": "anne@example.fr", "roles": ["citizen"], "notification_prefs": {"email": True},
      "pending_email": None, "franceconnect": False}


# --- the password rule, clause by clause -------------------------------------------------

def test_a_password_meeting_every_clause_is_accepted():
    assert domain.password_problems("Versailles2026!") == []
    assert domain.password_problems("Abcdefg1") == []  # exactly 8, no symbol needed
    assert domain.password_problems("Aa1!+@#$%^&*()") == []  # every accepted symbol


@pytest.mark.parametrize("password, says", [
    ("Abcde1", "au moins 8 caractères"),
    ("abcdefg1", "majuscule"),
    ("ABCDEFG1", "minuscule"),
    ("Abcdefgh", "chiffre"),
    ("Abcdefg1-", "Caractère non accepté : -"),
    ("Abcdefg1 x", "espace"),
    ("Abcdéfg1", "é"),
    ("Abcdefg1?", "?"),
    ("A" * 121 + "bcdefg12", "au plus 128"),
])
def test_each_broken_clause_is_named(password, says):
    problems = domain.password_problems(password)
    assert len(problems) == 1, problems
    assert says in problems[0]


def test_several_broken_clauses_are_all_listed_and_non_strings_refused():
    assert len(domain.password_problems("abc")) == 3  # length, upper-case, digit
    assert domain.password_problems(None) == ["Saisissez un mot de passe."]
    assert domain.password_problems(12345678) == ["Saisissez un mot de passe."]


# --- emails ----------------------------------------------------------------------------------

def test_email_is_normalised_and_checked_without_network():
    assert domain.normalize_email("  Anne.Martin@Example.FR ") == "anne.martin@example.fr"
    for bad in ("", "anne", "anne@", "anne@localhost", "anne@[127.0.0.1]", "a b@example.fr", None, 42):
        with pytest.raises(ValueError):
            domain.normalize_email(bad)


def test_tokens_are_random_and_only_their_hash_is_kept():
    token, stored = domain.new_token()
    other, _ = domain.new_token()
    assert token != other and len(token) >= 40
    assert stored == domain.hash_token(token) and token not in stored


# --- profile ---------------------------------------------------------------------------------

def test_phone_numbers():
    assert domain.clean_phone("01 23 45 67 89") == "01 23 45 67 89"
    assert domain.clean_phone("06.12.34.56.78") == "06.12.34.56.78"
    assert domain.clean_phone("+33 6 12 34 56 78") == "+33 6 12 34 56 78"
    assert domain.clean_phone("") == ""
    for bad in ("12345", "0012345678", "06 12 34 56", "abc", "+0 12345678", 612345678):
        with pytest.raises(ValueError):
            domain.clean_phone(bad)


def test_profile_changes_keep_only_valid_fields():
    clean, errors = domain.clean_profile_changes({
        "first_name": "  Anne  Marie ", "phone": "0123456789",
        "addresses": [{"street": "1 rue de la Paix", "postal_code": "78000", "city": "Versailles"}],
        "household": [{"first_name": "Léo", "last_name": "Martin", "birth_date": "2015-03-21", "relation": "enfant"}],
        "notification_prefs": {"email": False},
        "contacts": [{"type": "email", "value": "anne.pro@example.fr", "label": "Travail"}],
    }, ME, TODAY)
    assert errors == {}
    assert clean["first_name"] == "Anne Marie"
    assert clean["addresses"] == [{"street": "1 rue de la Paix", "postal_code": "78000", "city": "Versailles",
                                   "country": "France", "label": "", "complement": ""}]
    assert clean["household"][0]["birth_date"] == "2015-03-21"
    assert clean["notification_prefs"] == {"email": False}
    assert clean["contacts"][0]["value"] == "anne.pro@example.fr"


@pytest.mark.parametrize("changes, field", [
    ({"phone": "12"}, "phone"),
    ({"first_name": ""}, "first_name"),
    ({"last_name": 3}, "last_name"),
    ({"addresses": "1 rue"}, "addresses"),
    ({"addresses": [{"street": "1 rue", "postal_code": "780", "city": "Versailles"}]}, "addresses[0].postal_code"),
    ({"addresses": [{"postal_code": "78000", "city": "Versailles"}]}, "addresses[0].street"),
    ({"addresses": [{"street": "x", "postal_code": "78000", "city": "V", "evil": 1}]}, "addresses[0]"),
    ({"addresses": [{"street": "x", "postal_code": "78000", "city": "V"}] * 6}, "addresses"),
    ({"household": [{"first_name": "Léo", "last_name": "M", "birth_date": "2999-01-01", "relation": "enfant"}]},
     "household[0].birth_date"),
    ({"household": [{"first_name": "Léo", "last_name": "M", "birth_date": "21/03/2015", "relation": "enfant"}]},
     "household[0].birth_date"),
    ({"household": [{"first_name": "Léo", "last_name": "M", "birth_date": "2015-03-21", "relation": "voisin"}]},
     "household[0].relation"),
    ({"household": [{"last_name": "M", "birth_date": "2015-03-21", "relation": "enfant"}]}, "household[0].first_name"),
    ({"household": {"first_name": "Léo"}}, "household"),
    ({"notification_prefs": {"email": "yes"}}, "notification_prefs.email"),
    ({"notification_prefs": {"sms": True}}, "notification_prefs.sms"),
    ({"notification_prefs": True}, "notification_prefs"),
    ({"contacts": [{"type": "fax", "value": "0123456789"}]}, "contacts[0].type"),
    ({"contacts": [{"type": "email", "value": "nope"}]}, "contacts[0].value"),
    ({"roles": ["citizen", "admin"]}, "roles"),
    ({"id": "other"}, "id"),
    ({"password": "x"}, "password"),
    ({"email": "not-an-email"}, "email"),
])
def test_each_invalid_profile_field_is_reported(changes, field):
    clean, errors = domain.clean_profile_changes(changes, ME, TODAY)
    assert field in errors, errors


def test_per_category_email_switches_are_kept_with_the_master_switch():
    clean, errors = domain.clean_profile_changes({"notification_prefs": {"email_demandes": False}}, ME, TODAY)
    assert errors == {} and clean["notification_prefs"] == {"email": True, "email_demandes": False}


def test_read_only_fields_sent_back_unchanged_are_accepted():
    clean, errors = domain.clean_profile_changes(dict(ME, first_name="Anne"), ME, TODAY)
    assert errors == {}
    assert clean == {"first_name": "Anne", "notification_prefs": {"email": True}}  # same email: no change asked


def test_a_new_email_is_a_change_request():
    clean, errors = domain.clean_profile_changes({"email": "New@Example.fr"}, ME, TODAY)
    assert errors == {} and clean == {"email": "new@example.fr"}


# --- associations ----------------------------------------------------------------------------

def test_rna_numbers():
    assert domain.clean_rna(" w912345678 ") == "W912345678"
    for bad in ("912345678", "W12345678", "X912345678", "W9123456789", None):
        with pytest.raises(ValueError):
            domain.clean_rna(bad)


def test_rights_lapse_the_day_after_their_end_date():
    assert domain.right_active(None, TODAY)
    assert domain.right_active(TODAY, TODAY)
    assert not domain.right_active(date(2026, 11, 24), TODAY)
    assert domain.clean_until("2026-12-31", TODAY) == date(2026, 12, 31)
    assert domain.clean_until(None, TODAY) is None
    with pytest.raises(ValueError):
        domain.clean_until("2026-11-24", TODAY)
    with pytest.raises(ValueError):
        domain.clean_until("31/12/2026", TODAY)
