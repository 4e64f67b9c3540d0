"""Notify keeps SMTP sessions open between deliveries (against the real SMTP sink): a kept
session is reused, one the server dropped is replaced before use, a broken one is not kept."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from guichet_common.testing.env import MailSink
from guichet_notify.dependencies import Mailer


@pytest.fixture
def sink(tmp_path: Path) -> Any:
    server = MailSink(tmp_path / "mail")
    yield server
    server.stop()


def send(mailer: Mailer, smtp: Any, addr: str, n: int) -> None:
    mailer.transmit(smtp, mailer.build(f"m{n}-{os.urandom(3).hex()}", addr, f"Essai {n}", "texte", "<p>texte</p>"))


def test_a_session_is_reused_then_replaced_once_the_server_dropped_it(sink: MailSink,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    addr = "sessions@example.test"
    mailer = Mailer("127.0.0.1", sink.port, "Guichet <ne-pas-repondre@guichet.test>")
    first = mailer.checkout()
    send(mailer, first, addr, 1)
    mailer.checkin(first, True)
    again = mailer.checkout()
    assert again is first  # no new connection, greeting, EHLO
    send(mailer, again, addr, 2)
    mailer.checkin(again, True)

    sink.stop()  # the server goes away and comes back: the kept session is dead
    sink.start()
    monkeypatch.setattr(Mailer, "CHECK_AFTER_S", 0.0)
    fresh = mailer.checkout()
    assert fresh is not first
    send(mailer, fresh, addr, 3)
    mailer.checkin(fresh, False)  # a delivery that ended on an error gives its session up
    assert mailer.checkout() is not fresh
    assert len(sink.to(addr, at_least=3)) == 3


def test_sessions_idle_too_long_are_closed_not_reused(sink: MailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    mailer = Mailer("127.0.0.1", sink.port, "Guichet <ne-pas-repondre@guichet.test>")
    kept = [mailer.checkout() for _ in range(Mailer.IDLE_SESSIONS + 2)]
    for smtp in kept:
        mailer.checkin(smtp, True)
    assert len(mailer._idle) == Mailer.IDLE_SESSIONS  # the extra ones were closed
    monkeypatch.setattr(Mailer, "IDLE_MAX_S", -1.0)
    assert mailer.checkout() not in kept and mailer._idle == []


def test_an_expired_lease_stops_before_data_and_the_session_stays_usable(sink: MailSink) -> None:
    from guichet_notify.dependencies import LeaseExpired

    addr = "lease@example.test"
    mailer = Mailer("127.0.0.1", sink.port, "Guichet <ne-pas-repondre@guichet.test>")
    smtp = mailer.checkout()
    smtp.timeout = 3.0
    smtp.sock.settimeout(3.0)  # a session left in DATA would hang here rather than answer
    smtp.send_by = 0.0  # long past
    with pytest.raises(LeaseExpired):
        send(mailer, smtp, addr, 1)
    assert smtp.rset()[0] == 250  # a command the server answers, not a line of a message
    smtp.send_by = None
    send(mailer, smtp, addr, 2)
    mailer.checkin(smtp, True)
    msgs = sink.to(addr, at_least=1)
    assert [m["Subject"] for m in msgs] == ["Essai 2"]
