"""Notify's DependencyProviders: its store and the SMTP mailer."""
from __future__ import annotations

import os
import secrets
import smtplib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from guichet_common.db import Store
from nameko.extensions import DependencyProvider

from .mime import Composer, Envelope
from .models import Outbox


def NotifyStore() -> Store:
    return Store(outbox_model=Outbox)


class LeaseExpired(Exception):
    """The mail's lease ran out before its data went out; it was not sent by us."""


class RecordingSMTP(smtplib.SMTP):
    """SMTP whose DATA runs a hook between sending the message and reading the server's verdict.

    Why: marking a mail sent after the 250 leaves a window (the reply in flight, other green
    threads running) where a crash resends an already accepted mail. Recording it as sent once
    the whole message is on the wire, before the reply, shrinks that window to one local
    commit; a refusal read afterwards puts it back in the queue.
    """

    before_reply: Callable[[], None] | None = None
    send_by: float | None = None  # time.monotonic() after which this sender no longer holds the lease

    def data(self, msg: Any) -> tuple[int, bytes]:
        if self.send_by is not None and time.monotonic() > self.send_by:
            # Another sender may have claimed this mail since: never let both send it. Checked
            # before DATA, so the caller's RSET is a command, not a line of the message.
            raise LeaseExpired()
        self.putcmd("data")
        code, repl = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, repl)
        if isinstance(msg, str):
            msg = smtplib._fix_eols(msg).encode("ascii")  # type: ignore[attr-defined]
        q = smtplib._quote_periods(msg)  # type: ignore[attr-defined]
        if q[-2:] != b"\r\n":
            q = q + b"\r\n"
        self.send(q + b".\r\n")
        if self.before_reply is not None:
            self.before_reply()
        return self.getreply()


class Mailer:
    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.journal: SentJournal | None = None
        self._idle: list[tuple[float, RecordingSMTP]] = []  # (since, session), most recent last
        self._composer = Composer(sender)

    def build(self, mail_id: str, to_addr: str, subject: str, text: str, html: str) -> Envelope:
        return self._composer.compose(mail_id, to_addr, subject, text, html)

    @staticmethod
    def transmit(smtp: smtplib.SMTP, envelope: Envelope) -> dict[str, tuple[int, bytes]]:
        """Send one message over an open session; returns the recipients refused."""
        return smtp.sendmail(envelope.sender, list(envelope.recipients), envelope.data,
                             mail_options=list(envelope.options))

    def connect(self) -> RecordingSMTP:
        """An open SMTP session (several messages can go through it)."""
        return RecordingSMTP(self.host, self.port, timeout=self.timeout)

    # Sessions are kept open between deliveries: opening one (TCP, greeting, EHLO) and
    # closing it (QUIT) cost a busy notify about a third of its time per mail.
    IDLE_SESSIONS = 4  # kept at most
    IDLE_MAX_S = 30.0  # closed past this (servers drop idle clients after a few minutes)
    CHECK_AFTER_S = 0.5  # a session idle longer is checked (NOOP) before use

    def checkout(self) -> RecordingSMTP:
        """An open session: an idle one that still answers, else a new one."""
        while self._idle:
            since, smtp = self._idle.pop()
            age = time.monotonic() - since
            if age > self.IDLE_MAX_S:
                self._close(smtp)
                continue
            if age > self.CHECK_AFTER_S:
                try:
                    if smtp.noop()[0] != 250:
                        raise smtplib.SMTPException("NOOP refused")
                except (OSError, smtplib.SMTPException):
                    self._close(smtp)
                    continue
            return smtp
        return self.connect()

    def checkin(self, smtp: RecordingSMTP, reusable: bool) -> None:
        """Give a session back: kept if it ended cleanly and there is room, else closed."""
        smtp.before_reply, smtp.send_by = None, None
        if reusable and len(self._idle) < self.IDLE_SESSIONS:
            self._idle.append((time.monotonic(), smtp))
        else:
            self._close(smtp)

    def close_idle(self) -> None:
        while self._idle:
            self._close(self._idle.pop()[1])

    @staticmethod
    def _close(smtp: RecordingSMTP) -> None:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def send(self, mail_id: str, to_addr: str, subject: str, text: str, html: str) -> None:
        with self.connect() as smtp:
            self.transmit(smtp, self.build(mail_id, to_addr, subject, text, html))


class SentJournal:
    """A local append-only record of the mails whose data went on the wire.

    Why: the database commit that marks a mail sent may wait on the network (and, under
    eventlet, let other green threads run), so a crash right then would leave an accepted
    mail marked queued and it would go twice. A plain file append is one system call that
    never yields; it is written the instant the message is on the wire, and replayed into
    the database when the service starts again (before any handler or timer runs).
    One file per process; files of processes that are gone are replayed then removed.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / f"sent-{os.getpid()}-{secrets.token_hex(3)}.log"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def record(self, mail_id: str, state: str = "sent") -> None:
        os.write(self.fd, f"{state} {mail_id}\n".encode())

    def close(self) -> None:
        os.close(self.fd)
        self.path.unlink(missing_ok=True)

    def leftovers(self) -> list[Path]:
        """Journals of processes that are gone (this one's excluded)."""
        out = []
        for path in self.directory.glob("sent-*.log"):
            if path == self.path:
                continue
            try:
                pid = int(path.name.split("-")[1])
                if pid == os.getpid():  # an earlier run with our pid (PID 1 in a restarted container)
                    out.append(path)
                    continue
                os.kill(pid, 0)
            except (ValueError, IndexError, ProcessLookupError):
                out.append(path)
            except PermissionError:  # alive, another user's
                continue
        return out

    @staticmethod
    def read(path: Path) -> dict[str, str]:
        """Last recorded state per mail id."""
        states: dict[str, str] = {}
        for line in path.read_text(errors="replace").splitlines():
            state, _, mail_id = line.partition(" ")
            if mail_id:
                states[mail_id] = state
        return states


class SmtpMailer(DependencyProvider):
    def setup(self) -> None:
        config = self.container.config
        smtp = config["SMTP"]
        self.mailer = Mailer(smtp["host"], int(smtp["port"]), smtp["sender"])
        directory = Path(config.get("MAIL_JOURNAL_DIR") or Path(config.get("VAR_DIR", "var")) / "notify-journal")
        self.mailer.journal = SentJournal(directory)
        self._replay(config["DB_URL"])

    def _replay(self, db_url: str) -> None:
        from guichet_common.db import make_engine
        from sqlalchemy.orm import Session

        from .inbox import replay_journal

        leftovers = self.mailer.journal.leftovers() if self.mailer.journal else []
        if not leftovers:
            return
        engine = make_engine(db_url)
        try:
            with Session(engine) as session:
                for path in leftovers:
                    replay_journal(session, SentJournal.read(path))
                    path.unlink(missing_ok=True)
        finally:
            engine.dispose()

    def stop(self) -> None:
        self.mailer.close_idle()
        if self.mailer.journal is not None:  # a clean stop leaves nothing to replay
            self.mailer.journal.close()

    def get_dependency(self, worker_ctx: Any) -> Mailer:
        return self.mailer
