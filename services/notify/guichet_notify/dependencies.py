"""Notify's DependencyProviders: its store and the SMTP mailer."""
from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from guichet_common.db import Store
from nameko.extensions import DependencyProvider

from .models import Outbox


def NotifyStore() -> Store:
    return Store(outbox_model=Outbox)


def message_id(mail_id: str) -> str:
    # Stable per stored message: a resend after a crash carries the same Message-ID, so a
    # receiving system (or a person's mail client) can recognise the copy.
    return "<" + re.sub(r"[^A-Za-z0-9._-]", ".", mail_id) + "@guichet.local>"


class Mailer:
    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    def build(self, mail_id: str, to_addr: str, subject: str, text: str, html: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to_addr
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = message_id(mail_id)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        return msg

    def connect(self) -> smtplib.SMTP:
        """An open SMTP session (several messages can go through it)."""
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def send(self, mail_id: str, to_addr: str, subject: str, text: str, html: str) -> None:
        with self.connect() as smtp:
            smtp.send_message(self.build(mail_id, to_addr, subject, text, html))


class SmtpMailer(DependencyProvider):
    def setup(self) -> None:
        smtp = self.container.config["SMTP"]
        self.mailer = Mailer(smtp["host"], int(smtp["port"]), smtp["sender"])

    def get_dependency(self, worker_ctx: Any) -> Mailer:
        return self.mailer
