"""Notify's pure rules, with plain values."""
from __future__ import annotations

import pytest
from guichet_notify import domain
from guichet_notify.templates import CATALOGUE, Message, brand_colour, render_email


@pytest.mark.parametrize("prefs,category,security,expected", [
    (None, "demandes", False, True),
    ({"email": True}, "demandes", False, True),
    ({"email": False}, "demandes", False, False),
    ({"email": False}, "compte", True, True),               # security mails always go out
    ({"email": True, "email_demandes": False}, "demandes", False, False),
    ({"email": True, "email_demandes": False}, "justificatifs", False, True),
    ({"email": False, "email_justificatifs": True}, "justificatifs", False, False),  # master switch wins
])
def test_wants_email(prefs, category, security, expected):
    assert domain.wants_email(prefs, category, security) is expected


@pytest.mark.parametrize("link,expected", [
    ("/demandes/1", ("http://x.test/demandes/1", "/demandes/1")),
    ("http://x.test/demandes/1", ("http://x.test/demandes/1", "/demandes/1")),
    ("https://service-public.fr/a", ("https://service-public.fr/a", "")),
    ("javascript:alert(1)", ("", "")),
    ("//evil.test/x", ("", "")),
    ("", ("", "")),
])
def test_split_link(link, expected):
    assert domain.split_link(link, "http://x.test") == expected


def test_retry_policy_backoff_is_exponential_and_capped():
    p = domain.RetryPolicy(base_s=2, max_s=10, max_attempts=5)
    assert [p.delay(n) for n in range(1, 6)] == [2, 4, 8, 10, 10]
    cfg = domain.RetryPolicy.from_config({"MAIL_RETRY_BASE_S": 0.5, "MAIL_MAX_ATTEMPTS": 3})
    assert cfg.base_s == 0.5 and cfg.max_attempts == 3


def test_email_is_branded_escaped_and_linked():
    msg = Message(title="Statut <b>", body="Ligne 1\n\nLigne <2>", link="http://x.test/demandes/1?a=1&b=2",
                  link_label="Voir ma demande")
    subject, text, page = render_email(msg, "Ville d'Essai", "#8a1538")
    assert subject == "Ville d'Essai — Statut <b>"
    assert "Voir ma demande : http://x.test/demandes/1?a=1&b=2" in text
    assert "<b>" not in page and "Statut &lt;b&gt;" in page and "Ligne &lt;2&gt;" in page
    assert 'href="http://x.test/demandes/1?a=1&amp;b=2"' in page and "background:#8a1538" in page
    assert 'lang="fr"' in page


def test_brand_colour_only_accepts_hex():
    assert brand_colour("#abc") == "#abc"
    assert brand_colour("red;background:url(x)") == "#1d4f91"
    assert brand_colour(None) == "#1d4f91"


def test_every_kind_has_a_french_title_and_link():
    sample = {"first_name": "Anne", "activation_url": "/a", "reset_url": "/r", "confirm_url": "/c",
              "demande_id": "d1", "title": "Facture", "demarche_title": "Inscription", "tracking_number": "T"}
    for kind, build in CATALOGUE.items():
        msg = build(sample)
        assert msg.title and msg.body and msg.link, kind
        assert msg.category in domain.CATEGORIES
