"""Notify's DependencyProviders: its store and the SMTP mailer."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from guichet_common.db import Store
from nameko.extensions import DependencyProvider

from .models import Outbox


def NotifyStore() -> Store:
    return Store(outbox_model=Outbox)


class Mailer:
    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    def send(self, mail_id: str, to_addr: str, subject: str, text: str, html: str) -> None:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to_addr
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        # Stable per stored message, so a resend after a crash can be recognised downstream.
        msg["Message-ID"] = make_msgid(idstring=mail_id[:40], domain="guichet.local")
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(msg)


class SmtpMailer(DependencyProvider):
    def setup(self) -> None:
        smtp = self.container.config["SMTP"]
        self.mailer = Mailer(smtp["host"], int(smtp["port"]), smtp["sender"])

    def get_dependency(self, worker_ctx: Any) -> Mailer:
        return self.mailer
