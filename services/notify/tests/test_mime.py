"""The hand-built mail bytes read back, with the standard parser, exactly as written."""
from __future__ import annotations

import email
import re
from email import policy

import pytest
from guichet_notify.mime import Composer

TEXT = ("Votre demande « Acte de naissance » a bien été transmise.\n"
        ".Une ligne qui commence par un point, et une très longue ligne " + "é" * 120 + "\n"
        "Espaces en fin de ligne   \n\nVoir : http://127.0.0.1:8000/demandes/" + "a" * 32 + "?token=x_y-z\n")
HTML = "<p>Demande <b>reçue</b> — " + "<span>x</span>" * 80 + "</p>\n<p>fin</p>"


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


@pytest.mark.parametrize("sender", ["Ville de Bellerive <ne-pas-repondre@bellerive.test>",
                                    "Mairie d'Évry-sur-Seine <ne-pas-repondre@evry.test>",
                                    "ne-pas-repondre@bellerive.test",
                                    '"Mairie d\'Évry, Essonne" <ne-pas-repondre@evry.test>'])
@pytest.mark.parametrize("subject", ["Essai", "Ville de Bellerive — Demande reçue : Demande d'acte de naissance",
                                     "A plain ASCII subject that is long enough to need folding over two lines "
                                     "of a header"])
def test_headers_and_parts_read_back_as_written(sender: str, subject: str) -> None:
    env = Composer(sender).compose("evt-1:demande_submitted", "jean.dupont@example.org", subject, TEXT, HTML)
    assert env.sender == sender.rpartition("<")[2].rstrip(">") and env.recipients == ("jean.dupont@example.org",)
    assert env.options == ()
    assert b"\n" not in env.data.replace(b"\r\n", b"")  # CRLF only, as SMTP wants
    assert max(len(line) for line in env.data.split(b"\r\n")) <= 78
    msg = parse(env.data)
    assert msg["To"] == "jean.dupont@example.org"  # raw, searchable in the .eml
    assert str(msg["From"]) == sender and str(msg["Subject"]) == subject
    assert msg["Message-ID"] == "<evt-1.demande_submitted@guichet.local>"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content() == HTML
    assert not msg.defects and all(not part.defects for part in msg.walk())


def test_the_plain_text_stays_readable_in_the_raw_message() -> None:
    env = Composer("Guichet <g@guichet.test>").compose("m", "a@example.org", "s", TEXT, HTML)
    raw = env.data.decode("ascii").replace("=\r\n", "")  # soft line breaks
    assert "a bien =C3=A9t=C3=A9 transmise" in raw
    assert "http://127.0.0.1:8000/demandes/" + "a" * 32 + "?token=3Dx_y-z" in raw


def test_each_message_has_its_own_boundary() -> None:
    c = Composer("Guichet <g@guichet.test>")
    first, second = (re.search(rb'boundary="([^"]+)"', c.compose("m", "a@example.org", "s", "t", "h").data)
                     for _ in range(2))
    assert first and second and first.group(1) != second.group(1)


def test_an_international_address_goes_through_the_standard_library_with_smtputf8() -> None:
    env = Composer("Guichet <g@guichet.test>").compose("m", "josé@exemple.fr", "Reçu", "texte é", "<p>é</p>")
    assert env.options == ("SMTPUTF8",) and env.recipients == ("josé@exemple.fr",)
    msg = parse(env.data)
    assert msg["To"] == "josé@exemple.fr" and str(msg["Subject"]) == "Reçu"
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == "texte é\n"  # type: ignore[union-attr]


def test_no_line_break_gets_into_a_header() -> None:
    env = Composer("Guichet <g@guichet.test>").compose("m", "a@example.org", "Objet\r\nBcc: x@evil.test", "t", "h")
    msg = parse(env.data)
    assert msg["Bcc"] is None and str(msg["Subject"]) == "Objet Bcc: x@evil.test"
