"""Notify's contact book: identity is asked once per account while the entry is fresh, a
change event clears it, and a lookup that overlapped a change is not kept."""
from __future__ import annotations

from typing import Any

from guichet_notify.dependencies import ContactBook


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Identity:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.prefs: dict[str, Any] = {"email": True}

    def contact(self, account_id: str) -> dict[str, Any]:
        self.asked.append(account_id)
        return {"email": f"{account_id}@example.test", "notification_prefs": dict(self.prefs)}


def test_fresh_entries_are_reused_then_asked_again() -> None:
    clock, identity = Clock(), Identity()
    book = ContactBook(60, clock=clock)
    assert book.get("a", identity.contact)["email"] == "a@example.test"
    book.get("a", identity.contact)
    clock.now += 59
    book.get("a", identity.contact)
    assert identity.asked == ["a"]
    clock.now += 2
    book.get("a", identity.contact)
    assert identity.asked == ["a", "a"]


def test_forget_makes_the_next_lookup_ask_identity() -> None:
    identity = Identity()
    book = ContactBook(60, clock=Clock())
    book.get("a", identity.contact)
    identity.prefs = {"email": False}
    book.forget("a")
    assert book.get("a", identity.contact)["notification_prefs"] == {"email": False}
    book.forget(None)  # a payload without account_id is ignored


def test_a_lookup_overlapping_a_change_is_not_kept() -> None:
    identity = Identity()
    book = ContactBook(60, clock=Clock())

    def slow_contact(account_id: str) -> dict[str, Any]:
        answer = identity.contact(account_id)  # the old preferences ...
        book.forget(account_id)  # ... and the change event arrives meanwhile
        return answer

    book.get("a", slow_contact)
    book.get("a", identity.contact)
    assert identity.asked == ["a", "a"]


def test_the_book_stays_bounded_and_a_zero_ttl_keeps_nothing() -> None:
    identity = Identity()
    book = ContactBook(60, max_entries=3, clock=Clock())
    for account in "abcd":
        book.get(account, identity.contact)
    book.get("a", identity.contact)  # the oldest went out
    assert identity.asked == ["a", "b", "c", "d", "a"]
    off = ContactBook(0, clock=Clock())
    off.get("x", identity.contact)
    off.get("x", identity.contact)
    assert identity.asked[-2:] == ["x", "x"]
