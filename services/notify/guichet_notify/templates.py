"""The catalogue of notification kinds: French texts for the inbox and the email.

Plain functions from an event payload to a Message; no Nameko, no database.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guichet_common import events


@dataclass(frozen=True)
class Message:
    title: str
    body: str              # plain text, also the inbox entry's body
    link: str = ""          # absolute, or a path of the portal (made absolute for the email)
    link_label: str = ""
    security: bool = False  # account-security mail: sent whatever the preferences
    inbox: bool = True      # kept in the portal inbox (not for a pending account)
    category: str = "compte"
    inbox_link: str | None = None  # the inbox entry's link when it must differ (None: same as link)


def _account_registered(p: dict[str, Any]) -> Message:
    return Message(
        title="Activez votre compte",
        body=(f"Bonjour {p.get('first_name', '')},\n\nVotre compte a bien été créé. Pour l'activer, "
              f"ouvrez le lien ci-dessous dans les {p.get('valid_hours', 48)} heures. Passé ce délai, "
              "le compte ne sera pas créé et vous pourrez vous inscrire de nouveau."),
        link=p["activation_url"], link_label="Activer mon compte", security=True, inbox=False)


def _register_attempt_known(p: dict[str, Any]) -> Message:
    return Message(
        title="Tentative d'inscription avec votre adresse",
        body=(f"Bonjour {p.get('first_name', '')},\n\nQuelqu'un (peut-être vous) a tenté de créer un compte "
              "avec votre adresse électronique, qui a déjà un compte. Si vous avez oublié votre mot de passe, "
              "vous pouvez le réinitialiser. Sinon, ignorez ce message."),
        link=p.get("reset_url", ""), link_label="Réinitialiser mon mot de passe", security=True, inbox=False)


def _account_activated(p: dict[str, Any]) -> Message:
    return Message(
        title="Votre compte est activé",
        body=(f"Bonjour {p.get('first_name', '')},\n\nVotre compte est activé. Vous pouvez désormais "
              "effectuer vos démarches en ligne et les suivre depuis votre espace."),
        link=p.get("login_url") or "/connexion", link_label="Me connecter", security=True)


def _account_locked(p: dict[str, Any]) -> Message:
    return Message(
        title="Votre compte est temporairement bloqué",
        body=(f"Bonjour {p.get('first_name', '')},\n\nAprès plusieurs tentatives de connexion échouées, "
              f"votre compte est bloqué pendant {p.get('minutes', 15)} minutes. Si ce n'était pas vous, "
              "nous vous conseillons de changer votre mot de passe."),
        link=p.get("reset_url") or "/mot-de-passe-oublie", link_label="Changer mon mot de passe", security=True)


def _password_reset_requested(p: dict[str, Any]) -> Message:
    return Message(
        title="Réinitialisation de votre mot de passe",
        body=(f"Bonjour {p.get('first_name', '')},\n\nVous avez demandé à réinitialiser votre mot de passe. "
              f"Ce lien est valable {p.get('valid_minutes', 60)} minutes et ne sert qu'une fois. "
              "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message."),
        link=p["reset_url"], link_label="Choisir un nouveau mot de passe", security=True,
        inbox_link="")  # the single-use token stays in the mailbox, never at rest in the inbox


def _password_changed(p: dict[str, Any]) -> Message:
    return Message(
        title="Votre mot de passe a été modifié",
        body=(f"Bonjour {p.get('first_name', '')},\n\nLe mot de passe de votre compte vient d'être modifié. "
              "Si vous n'êtes pas à l'origine de ce changement, réinitialisez-le immédiatement."),
        link=p.get("reset_url") or "/mot-de-passe-oublie", link_label="Réinitialiser mon mot de passe", security=True)


def _email_change_requested(p: dict[str, Any]) -> Message:
    return Message(
        title="Confirmez votre nouvelle adresse électronique",
        body=(f"Bonjour {p.get('first_name', '')},\n\nPour utiliser cette adresse avec votre compte, "
              "confirmez-la en ouvrant le lien ci-dessous."),
        link=p["confirm_url"], link_label="Confirmer cette adresse", security=True, inbox=False)


def _email_changed(p: dict[str, Any]) -> Message:
    return Message(
        title="Votre adresse électronique a été modifiée",
        body=(f"Bonjour {p.get('first_name', '')},\n\nL'adresse électronique de votre compte est désormais "
              f"{p.get('new_email', '')}. Si vous n'êtes pas à l'origine de ce changement, contactez la mairie."),
        link=p.get("url") or "/mon-compte", link_label="Voir mon compte", security=True)


def _justificatif(verb: str) -> Callable[[dict[str, Any]], Message]:
    def build(p: dict[str, Any]) -> Message:
        if verb == "validated":
            title = "Justificatif validé"
            body = (f"Votre justificatif « {p.get('title', '')} » a été validé"
                    + (f" jusqu'au {p['valid_until']}." if p.get("valid_until") else "."))
        elif verb == "refused":
            title = "Justificatif refusé"
            body = f"Votre justificatif « {p.get('title', '')} » a été refusé. Motif : {p.get('reason', '')}"
        else:
            title = "Justificatif bientôt expiré"
            body = (f"Votre justificatif « {p.get('title', '')} » expire le {p.get('valid_until', '')}. "
                    "Pensez à en déposer un nouveau.")
        return Message(title=title, body=body, link=p.get("url") or "/porte-documents", link_label="Voir mon porte-documents",
                       category="justificatifs")
    return build


def _demande_path(p: dict[str, Any]) -> str:
    return f"/demandes/{p['demande_id']}" if p.get("demande_id") else "/demandes"


def _demande_submitted(p: dict[str, Any]) -> Message:
    return Message(
        title=f"Demande reçue : {p.get('demarche_title', '')}",
        body=(f"Votre demande « {p.get('demarche_title', '')} » a bien été transmise aux services de la ville. "
              f"Son numéro de suivi est {p.get('tracking_number', '')}. Conservez-le : il permet de suivre "
              "la demande depuis la page d'accueil."),
        link=p.get("url") or _demande_path(p), link_label="Voir ma demande", category="demandes")


def _demande_status_changed(p: dict[str, Any]) -> Message:
    comment = f"\n\nCommentaire de l'agent : {p['comment']}" if p.get("comment") else ""
    return Message(
        title=f"Votre demande est passée au statut « {p.get('status_label', p.get('status', ''))} »",
        body=(f"Votre demande « {p.get('demarche_title', '')} » (n° {p.get('tracking_number', '')}) "
              f"est maintenant au statut « {p.get('status_label', p.get('status', ''))} ».{comment}"),
        link=p.get("url") or _demande_path(p), link_label="Voir ma demande", category="demandes")


def _demande_message(p: dict[str, Any]) -> Message:
    return Message(
        title="Nouveau message des services de la ville",
        body=(f"Un agent vous a écrit au sujet de votre demande « {p.get('demarche_title', '')} » "
              f"(n° {p.get('tracking_number', '')}) :\n\n{p.get('body', '')}"),
        link=p.get("url") or _demande_path(p), link_label="Lire et répondre", category="demandes")


def _demande_info_requested(p: dict[str, Any]) -> Message:
    return Message(
        title="Des informations complémentaires sont demandées",
        body=(f"Pour traiter votre demande « {p.get('demarche_title', '')} » (n° {p.get('tracking_number', '')}), "
              f"les services de la ville ont besoin de précisions :\n\n{p.get('body', '')}"),
        link=p.get("url") or _demande_path(p), link_label="Répondre", category="demandes")


CATALOGUE: dict[str, Callable[[dict[str, Any]], Message]] = {
    events.ACCOUNT_REGISTERED: _account_registered,
    events.ACCOUNT_REGISTER_ATTEMPT_KNOWN: _register_attempt_known,
    events.ACCOUNT_ACTIVATED: _account_activated,
    events.ACCOUNT_LOCKED: _account_locked,
    events.PASSWORD_RESET_REQUESTED: _password_reset_requested,
    events.PASSWORD_CHANGED: _password_changed,
    events.EMAIL_CHANGE_REQUESTED: _email_change_requested,
    events.EMAIL_CHANGED: _email_changed,
    events.JUSTIFICATIF_VALIDATED: _justificatif("validated"),
    events.JUSTIFICATIF_REFUSED: _justificatif("refused"),
    events.JUSTIFICATIF_EXPIRING: _justificatif("expiring"),
    events.DEMANDE_SUBMITTED: _demande_submitted,
    events.DEMANDE_STATUS_CHANGED: _demande_status_changed,
    events.DEMANDE_MESSAGE_FROM_AGENT: _demande_message,
    events.DEMANDE_INFO_REQUESTED: _demande_info_requested,
}


_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
DEFAULT_PRIMARY = "#1d4f91"


def brand_colour(value: str | None) -> str:
    """The configured colour if it is a plain hex colour (it lands inside a style attribute)."""
    return value if value and _COLOUR.match(value) else DEFAULT_PRIMARY


def render_email(msg: Message, city: str, primary: str | None = None) -> tuple[str, str, str]:
    """Subject, plain text and HTML of the email for a message (everything escaped).

    Inline styles and a single-column table: what mail clients render reliably.
    """
    colour = brand_colour(primary)
    e = html.escape
    subject = f"{city} — {msg.title}"
    text = f"{msg.body}\n"
    if msg.link:
        text += f"\n{msg.link_label} : {msg.link}\n"
    text += f"\n--\n{city}\nCe message est envoyé automatiquement, merci de ne pas y répondre.\n"
    paragraphs = "".join(f'<p style="margin:0 0 16px">{e(p).replace(chr(10), "<br>")}</p>'
                         for p in msg.body.split("\n\n"))
    button = (f'<p style="margin:24px 0"><a href="{e(msg.link, quote=True)}" style="background:{colour};color:#ffffff;'
              f'padding:12px 20px;text-decoration:none;display:inline-block;font-weight:bold">{e(msg.link_label)}</a></p>'
              f'<p style="font-size:14px;color:#505a5f;margin:0 0 16px">Si le bouton ne fonctionne pas, copiez ce lien '
              f'dans votre navigateur :<br><a href="{e(msg.link, quote=True)}" style="color:{colour}">{e(msg.link)}</a></p>'
              ) if msg.link else ""
    body_html = (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{e(subject)}</title></head>'
        f'<body style="margin:0;padding:0;background:#f3f2f1">'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f3f2f1">'
        f'<tr><td align="center" style="padding:16px">'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="max-width:640px;background:#ffffff;font-family:Arial,Helvetica,sans-serif;color:#0b0c0c;'
        f'font-size:16px;line-height:1.5">'
        f'<tr><td style="background:{colour};color:#ffffff;padding:16px 24px;font-size:20px;font-weight:bold">'
        f'{e(city)}</td></tr>'
        f'<tr><td style="padding:24px">'
        f'<h1 style="font-size:22px;margin:0 0 16px">{e(msg.title)}</h1>{paragraphs}{button}'
        f'</td></tr>'
        f'<tr><td style="padding:16px 24px;border-top:4px solid {colour};font-size:14px;color:#505a5f">'
        f'{e(city)} — ce message est envoyé automatiquement, merci de ne pas y répondre.</td></tr>'
        f'</table></td></tr></table></body></html>')
    return subject, text, body_html
