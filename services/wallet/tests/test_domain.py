"""Pure wallet rules."""
from __future__ import annotations

from datetime import date

import pytest
from guichet_wallet import domain

TODAY = date(2026, 11, 25)


def test_staff_read_only_what_was_shared_into_a_demande():
    assert domain.may_read_shared("anne", {"citizen"}, "anne", "justificatif:1")
    assert domain.may_read_shared("agent", {"agent"}, "anne", "demande:1")
    assert domain.may_read_shared("adm", {"admin"}, "anne", "demande:1")
    assert not domain.may_read_shared("agent", {"agent"}, "anne", "justificatif:1")
    assert not domain.may_read_shared("bob", {"citizen"}, "anne", "demande:1")


def test_statuses_and_reminder_once_within_30_days():
    assert domain.justificatif_status("validated", date(2026, 11, 24), TODAY) == "expired"
    assert domain.justificatif_status("validated", TODAY, TODAY) == "validated"
    assert domain.justificatif_status("pending", None, TODAY) == "pending"
    assert domain.reminder_due("validated", date(2026, 12, 25), TODAY, False)
    assert not domain.reminder_due("validated", date(2026, 12, 26), TODAY, False)
    assert not domain.reminder_due("validated", date(2026, 12, 1), TODAY, True)
    assert not domain.reminder_due("validated", date(2026, 11, 24), TODAY, False)
    assert not domain.reminder_due("refused", date(2026, 12, 1), TODAY, False)


@pytest.mark.parametrize("value", ["", "demain", "2026-11-25", "2020-01-01", "2050-01-01", None, 12])
def test_valid_until_must_be_a_future_date_within_20_years(value):
    with pytest.raises(ValueError):
        domain.parse_valid_until(value, TODAY)


def test_valid_until_ok():
    assert domain.parse_valid_until("2027-06-30", TODAY) == date(2027, 6, 30)


def test_kinds_scopes_titles_sizes():
    assert domain.clean_kind(" Identite ") == "identite"
    assert domain.clean_kind("") is None
    with pytest.raises(ValueError):
        domain.clean_kind("", required=True)
    with pytest.raises(ValueError):
        domain.clean_kind("../x")
    assert domain.check_scope("demande:ab-1") == "demande:ab-1"
    for bad in ("demande:", "x:1", "demande:../1", None):
        with pytest.raises(ValueError):
            domain.check_scope(bad)
    assert domain.clean_title("  Facture   EDF ") == "Facture EDF"
    assert domain.human_size(2 * 1024 * 1024) == "2 Mo"
    assert domain.human_size(1536) == "1,5 ko"
    assert domain.parts_for(0) == 1 and domain.parts_for(domain.PART_SIZE + 1) == 2
    assert "2 Mo" in domain.too_large_message(2 * 1024 * 1024)
