"""Settings read from the environment (guichet_common.config)."""
from __future__ import annotations

from email.utils import parseaddr

from guichet_common.config import service_config


def test_mails_come_from_the_city_unless_a_sender_is_set() -> None:
    sender = service_config("notify", {"GUICHET_CITY_NAME": "Mairie d'Évry, Essonne"})["SMTP"]["sender"]
    assert parseaddr(sender) == ("Mairie d'Évry, Essonne", "ne-pas-repondre@guichet.test")
    empty = service_config("notify", {"GUICHET_MAIL_FROM": ""})["SMTP"]["sender"]  # compose passes it empty
    assert parseaddr(empty) == ("Ville de Bellerive", "ne-pas-repondre@guichet.test")
    chosen = "Mairie de Bellerive <ne-pas-repondre@bellerive.example.fr>"
    assert service_config("notify", {"GUICHET_MAIL_FROM": chosen})["SMTP"]["sender"] == chosen
