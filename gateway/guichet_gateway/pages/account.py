"""Account pages: inscription, activation, connexion, déconnexion, mot de passe oublié,
mon compte (profil, adresses, foyer, contacts, préférences, mot de passe, adresse
électronique, export, suppression), mes relations, and the admins' association pages.

Every form keeps what was typed, says what is wrong next to the field and in a summary,
and carries a CSRF token. The identity service checks everything again.
"""
from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
)
from guichet_common.auth import Caller
from guichet_common.errors import Unauthorized, parse_remote
from nameko.exceptions import RemoteError

from ..auth import REFRESH_COOKIE, verifier
from . import formatting
from .session import clear_session, login_required, page_caller, rpc, safe_next, set_session, staff_required

log = logging.getLogger(__name__)
FC_ID_TOKEN_COOKIE = "guichet_fc_id_token"
bp = Blueprint("account_pages", __name__)

RELATIONS = (("conjoint", "Conjoint ou conjointe"), ("enfant", "Enfant"), ("parent", "Parent"),
             ("frere_soeur", "Frère ou sœur"), ("grand_parent", "Grand-parent"), ("autre", "Autre"))
ROLES = (("representative", "Représentant (peut faire des démarches pour l’association)"),
         ("viewer", "Lecteur (peut suivre les démarches de l’association)"))
ROLE_LABELS = {"representative": "Représentant", "viewer": "Lecteur"}
PREFS = (("email_demandes", "Le suivi de mes demandes"), ("email_justificatifs", "Mes justificatifs"),
         ("email_compte", "Les informations sur mon compte"))
PASSWORD_HINT = ("Au moins 8 caractères, dont une majuscule, une minuscule et un chiffre. "
                 "Seuls les symboles ! + @ # $ % ^ & * ( ) sont acceptés.")


def date_fr(value: str | None) -> str:
    """A date without time; an unreadable value is shown as it is."""
    return formatting.date_fr(value, with_time=False) or (value or "")


def call(method: str, *args: Any) -> tuple[Any, dict[str, Any] | None]:
    """(result, None), or (None, problem) for an error the person can act on."""
    try:
        return rpc("identity", method, *args), None
    except RemoteError as exc:
        data = parse_remote(exc.value)
        if data is None:
            raise
        if data["kind"] == "not_found":
            abort(404)
        if data["kind"] == "forbidden":
            abort(403)
        return None, data


def field_errors(problem: dict[str, Any] | None, mapping: dict[str, str] | None = None,
                 default_field: str | None = None) -> dict[str, list[str]]:
    """The problem's field errors renamed to the form's fields (`household[3].birth_date` →
    `birth_date`); a problem without fields lands on `default_field`."""
    if not problem:
        return {}
    out: dict[str, list[str]] = {}
    for key, messages in (problem.get("errors") or {}).items():
        leaf = re.sub(r"^.*[.\]]", "", key) or key
        name = (mapping or {}).get(leaf, leaf)
        out.setdefault(name, []).extend(messages)
    if not out and default_field:
        out[default_field] = [problem.get("detail") or "Une erreur s’est produite."]
    return out


def me() -> dict[str, Any]:
    result, problem = call("get_me", g.token)
    if problem:  # the session ended meanwhile: sign in again and come back
        abort(clear_session(go("/connexion?next=" + quote(request.full_path.rstrip("?"), safe="/"))))
    return result  # type: ignore[no-any-return]


def go(url: str) -> Response:
    """A redirect as a Flask response (so session cookies can be set on it)."""
    return make_response(redirect(url))


def form(*names: str) -> dict[str, str]:
    return {n: request.form.get(n, "").strip() for n in names}


# --- inscription, activation -----------------------------------------------------------

@bp.route("/inscription", methods=["GET", "POST"])
def inscription() -> Any:
    values = form("email", "first_name", "last_name")
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("password_confirm", ""):
            errors["password_confirm"] = ["Les deux mots de passe ne sont pas identiques."]
        _, problem = call("register", values["email"], password, values["first_name"], values["last_name"])
        errors = {**field_errors(problem, default_field="email"), **errors}
        if not errors:
            return render_template("account/inscription_envoyee.html", page_title="Vérifiez votre messagerie",
                                   email=values["email"])
    return render_template("account/inscription.html", page_title="Créer un compte", values=values, errors=errors,
                           has_errors=bool(errors), password_hint=PASSWORD_HINT)


@bp.route("/activation", methods=["GET", "POST"])
def activation() -> Any:
    token = (request.form.get("token") if request.method == "POST" else request.args.get("token")) or ""
    if request.method == "GET":
        state = "confirm" if token else "invalid"
        return render_template("account/activation.html", page_title="Activer mon compte", state=state, token=token)
    _, problem = call("activate", token)
    state = "invalid" if problem else "done"
    return render_template("account/activation.html", page_title="Compte activé" if state == "done" else
                           "Lien d’activation non valable", state=state, token="")


# --- connexion, déconnexion --------------------------------------------------------------

# Pages that make no sense to come back to once signed in (and would loop on /connexion).
AUTH_PAGES = ("/connexion", "/inscription", "/activation", "/mot-de-passe", "/franceconnect", "/deconnexion")


def _requested_next() -> str | None:
    """The page to return to after signing in, when one was asked for (same site only)."""
    raw = request.values.get("next") or request.values.get("suivant")
    if not raw:
        return None
    target = safe_next(raw, "/mon-compte")
    return "/mon-compte" if target.startswith(AUTH_PAGES) else target


def _next() -> str:
    return _requested_next() or "/mon-compte"


def _home(caller: Caller | None) -> str:
    """Where signing in leads when no page was asked for: agents and administrators to the
    back-office (their daily work), everyone else to their account."""
    return "/backoffice" if caller is not None and caller.is_staff else "/mon-compte"


@bp.route("/connexion", methods=["GET", "POST"])
def connexion() -> Any:
    requested = _requested_next()
    values = form("email")
    errors: dict[str, list[str]] = {}
    throttled = False
    if request.method == "GET" and (caller := page_caller()) is not None:
        return redirect(requested or _home(caller))
    if request.method == "POST":
        pair, problem = call("login", values["email"], request.form.get("password", ""), request.remote_addr or "")
        if pair:
            g.pop("new_session", None)
            if requested is None:
                try:
                    requested = _home(verifier().verify(pair["access_token"]))
                except Unauthorized:  # the session is set anyway; the account page is a safe landing
                    requested = "/mon-compte"
            return set_session(go(requested), pair)
        assert problem is not None
        throttled = problem["kind"] == "too_many"
        if throttled:
            errors = {"email": [problem["detail"]]}
        else:
            errors = {"email": ["Adresse électronique ou mot de passe incorrect."],
                      "password": ["Vérifiez votre mot de passe, ou choisissez-en un nouveau."]}
    resp = make_response(render_template(
        "account/connexion.html", page_title="Se connecter", values=values, errors=errors, has_errors=bool(errors),
        next=requested or "", franceconnect=franceconnect_enabled()))
    if throttled:
        resp.status_code = 429
    return resp


def franceconnect_enabled() -> bool:
    return bool(current_app.extensions.get("franceconnect"))


# --- FranceConnect (OIDC, Authlib) --------------------------------------------------------

def franceconnect_settings(app: Flask) -> dict[str, str] | None:
    """From app.config["FRANCECONNECT"], else the environment; None when not configured.

    GUICHET_FC_CLIENT_ID, GUICHET_FC_CLIENT_SECRET, GUICHET_FC_ISSUER (the discovery document is
    <issuer>/.well-known/openid-configuration unless GUICHET_FC_DISCOVERY_URL says otherwise),
    GUICHET_FC_SCOPES, GUICHET_FC_ACR (eidas1 by default, as FranceConnect requires).
    """
    conf = dict(app.config.get("FRANCECONNECT") or {})
    env = os.environ
    for key, name in (("client_id", "CLIENT_ID"), ("client_secret", "CLIENT_SECRET"), ("issuer", "ISSUER"),
                      ("discovery_url", "DISCOVERY_URL"), ("scopes", "SCOPES"), ("acr", "ACR")):
        conf.setdefault(key, env.get(f"GUICHET_FC_{name}", ""))
    if not conf["client_id"] or not conf["client_secret"] or not (conf["issuer"] or conf["discovery_url"]):
        return None
    conf["discovery_url"] = conf["discovery_url"] or conf["issuer"].rstrip("/") + "/.well-known/openid-configuration"
    conf["scopes"] = conf["scopes"] or "openid given_name family_name email birthdate"
    conf["acr"] = conf["acr"] or "eidas1"
    return conf


def init_franceconnect(app: Flask) -> None:
    conf = franceconnect_settings(app)
    if conf is None:
        return
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    client = oauth.register(
        "franceconnect", client_id=conf["client_id"], client_secret=conf["client_secret"],
        server_metadata_url=conf["discovery_url"],
        client_kwargs={"scope": conf["scopes"], "token_endpoint_auth_method": "client_secret_post", "timeout": 10})
    app.extensions["franceconnect"] = {"client": client, "acr": conf["acr"]}


@bp.post("/franceconnect/connexion")
def franceconnect_start() -> Any:
    fc = current_app.extensions.get("franceconnect")
    if not fc:
        abort(404)
    session["fc_next"] = _next()
    redirect_uri = current_app.config["BASE_URL"].rstrip("/") + "/franceconnect/retour"
    try:
        return fc["client"].authorize_redirect(redirect_uri, acr_values=fc["acr"])
    except Exception:  # discovery unreachable: say so rather than fail
        log.warning("FranceConnect unreachable", exc_info=True)
        flash("FranceConnect ne répond pas pour le moment. Réessayez plus tard ou connectez-vous avec votre compte.",
              "info")
        return redirect("/connexion")


@bp.get("/franceconnect/retour")
def franceconnect_callback() -> Any:
    fc = current_app.extensions.get("franceconnect")
    if not fc:
        abort(404)
    target = safe_next(session.pop("fc_next", None), "/mon-compte")
    if request.args.get("error"):
        flash("La connexion avec FranceConnect a été annulée.", "info")
        return redirect("/connexion")
    try:
        token = fc["client"].authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise ValueError("no verified id_token")
        if not claims.get("email"):  # FranceConnect may send identity claims through userinfo only
            extra = fc["client"].userinfo(token=token)
            if extra.get("sub") == claims["sub"]:
                claims.update({k: v for k, v in extra.items() if k != "sub"})
    except Exception:  # bad state, signature, nonce, issuer, network...: never a session
        log.warning("FranceConnect callback refused", exc_info=True)
        return render_template("account/franceconnect_erreur.html", page_title="Connexion impossible",
                               detail="La réponse de FranceConnect n’a pas pu être vérifiée."), 400
    pair, problem = call("login_franceconnect", {k: v for k, v in claims.items() if isinstance(v, str | bool | int)})
    if pair is None:
        return render_template("account/franceconnect_erreur.html", page_title="Connexion impossible",
                               detail=(problem or {}).get("detail")), 409 if (problem or {}).get("kind") == "conflict" else 400
    g.pop("new_session", None)
    resp = set_session(go(target), pair)
    if token.get("id_token"):  # kept for FranceConnect's logout (id_token_hint)
        resp.set_cookie(FC_ID_TOKEN_COOKIE, token["id_token"], max_age=12 * 3600, httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")), path="/")
    return resp


@bp.post("/deconnexion")
def deconnexion() -> Any:
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        try:
            rpc("identity", "logout", refresh)
        except RemoteError:
            pass  # the cookies go anyway
    g.pop("new_session", None)
    fc = current_app.extensions.get("franceconnect")
    id_token = request.cookies.get(FC_ID_TOKEN_COOKIE)
    if fc and id_token:
        # Signed in through FranceConnect: the FranceConnect session ends too (RP-initiated logout).
        try:
            resp = fc["client"].logout_redirect(
                post_logout_redirect_uri=current_app.config["BASE_URL"].rstrip("/") + "/", id_token_hint=id_token)
            resp = clear_session(make_response(resp))
            resp.delete_cookie(FC_ID_TOKEN_COOKIE, path="/")
            return resp
        except Exception:  # no end_session_endpoint or provider down: our session still ends
            log.warning("FranceConnect logout unavailable", exc_info=True)
    flash("Vous êtes déconnecté.", "success")
    resp = clear_session(go("/"))
    resp.delete_cookie(FC_ID_TOKEN_COOKIE, path="/")
    return resp


# --- mot de passe oublié ------------------------------------------------------------------

@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
def mot_de_passe_oublie() -> Any:
    values = form("email")
    if request.method == "POST":
        if not values["email"]:
            errors = {"email": ["Saisissez l’adresse électronique de votre compte."]}
            return render_template("account/mot_de_passe_oublie.html", page_title="Mot de passe oublié", values=values,
                                   errors=errors, has_errors=True, sent=False)
        call("request_password_reset", values["email"])
        return render_template("account/mot_de_passe_oublie.html", page_title="Vérifiez votre messagerie",
                               values=values, errors={}, sent=True)
    return render_template("account/mot_de_passe_oublie.html", page_title="Mot de passe oublié", values=values,
                           errors={}, sent=False)


@bp.route("/mot-de-passe/nouveau", methods=["GET", "POST"])
def mot_de_passe_nouveau() -> Any:
    token = (request.form.get("token") if request.method == "POST" else request.args.get("token")) or ""
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("password_confirm", ""):
            errors["password_confirm"] = ["Les deux mots de passe ne sont pas identiques."]
        else:
            _, problem = call("confirm_password_reset", token, password)
            if problem and problem["kind"] == "bad_request":
                return render_template("account/mot_de_passe_nouveau.html", page_title="Lien non valable",
                                       token="", invalid=True, errors={})
            errors = field_errors(problem, default_field="password")
            if not errors:
                flash("Votre mot de passe est changé. Connectez-vous avec le nouveau mot de passe.", "success")
                return redirect("/connexion")
    return render_template("account/mot_de_passe_nouveau.html", page_title="Choisir un nouveau mot de passe",
                           token=token, invalid=not token, errors=errors, has_errors=bool(errors),
                           password_hint=PASSWORD_HINT)


@bp.route("/adresse-electronique/confirmer", methods=["GET", "POST"])
def confirmer_adresse() -> Any:
    token = (request.form.get("token") if request.method == "POST" else request.args.get("token")) or ""
    if request.method == "GET":
        return render_template("account/email_confirmer.html", page_title="Confirmer ma nouvelle adresse",
                               state="confirm" if token else "invalid", token=token)
    result, problem = call("confirm_email_change", token)
    return render_template("account/email_confirmer.html",
                           page_title="Adresse confirmée" if result else "Lien non valable",
                           state="done" if result else "invalid", token="", email=(result or {}).get("email"),
                           detail=(problem or {}).get("detail"))


# --- mon compte -----------------------------------------------------------------------------

@bp.get("/mon-compte")
@login_required
def mon_compte() -> Any:
    return render_template("account/mon_compte.html", page_title="Mon compte", me=me(), relations=dict(RELATIONS),
                           prefs=PREFS, date_fr=date_fr)


def _update(changes: dict[str, Any]) -> dict[str, list[str]]:
    _, problem = call("update_me", g.token, changes)
    return field_errors(problem, default_field=next(iter(changes), "first_name"))


@bp.route("/mon-compte/profil", methods=["GET", "POST"])
@login_required
def profil() -> Any:
    current = me()
    values = {k: current.get(k) or "" for k in ("first_name", "last_name", "phone")}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form("first_name", "last_name", "phone")
        errors = _update(values)
        if not errors:
            flash("Vos informations personnelles sont mises à jour.", "success")
            return redirect("/mon-compte#profil")
    return render_template("account/profil.html", page_title="Mes informations personnelles", values=values,
                           errors=errors, has_errors=bool(errors))


ADDRESS_FIELDS = ("label", "street", "complement", "postal_code", "city", "country")


@bp.route("/mon-compte/adresses/ajouter", methods=["GET", "POST"])
@login_required
def ajouter_adresse() -> Any:
    values = {"country": "France"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form(*ADDRESS_FIELDS)
        errors = _update({"addresses": [*me()["addresses"], values]})
        if not errors:
            flash("L’adresse est ajoutée.", "success")
            return redirect("/mon-compte#adresses")
    return render_template("account/adresse.html", page_title="Ajouter une adresse", values=values, errors=errors,
                           has_errors=bool(errors))


def _remove(field: str, index: int, message: str, anchor: str) -> Any:
    items = list(me()[field])
    if not 0 <= index < len(items):
        abort(404)
    del items[index]
    errors = _update({field: items})
    flash(message if not errors else "La suppression n’a pas pu être faite.", "success" if not errors else "info")
    return redirect(f"/mon-compte#{anchor}")


@bp.post("/mon-compte/adresses/<int:index>/supprimer")
@login_required
def supprimer_adresse(index: int) -> Any:
    return _remove("addresses", index, "L’adresse est supprimée.", "adresses")


@bp.route("/mon-compte/foyer/ajouter", methods=["GET", "POST"])
@login_required
def ajouter_membre() -> Any:
    values: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form("first_name", "last_name", "birth_date", "relation")
        errors = _update({"household": [*me()["household"], values]})
        if not errors:
            flash("La personne est ajoutée à votre foyer.", "success")
            return redirect("/mon-compte#foyer")
    return render_template("account/foyer.html", page_title="Ajouter une personne à mon foyer", values=values,
                           errors=errors, has_errors=bool(errors), relations=RELATIONS)


@bp.post("/mon-compte/foyer/<int:index>/supprimer")
@login_required
def supprimer_membre(index: int) -> Any:
    return _remove("household", index, "La personne est retirée de votre foyer.", "foyer")


@bp.route("/mon-compte/contacts/ajouter", methods=["GET", "POST"])
@login_required
def ajouter_contact() -> Any:
    values: dict[str, str] = {"type": "telephone"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form("type", "value", "label")
        errors = _update({"contacts": [*me()["contacts"], values]})
        if not errors:
            flash("Le contact est ajouté.", "success")
            return redirect("/mon-compte#contacts")
    return render_template("account/contact.html", page_title="Ajouter un contact", values=values, errors=errors,
                           has_errors=bool(errors))


@bp.post("/mon-compte/contacts/<int:index>/supprimer")
@login_required
def supprimer_contact(index: int) -> Any:
    return _remove("contacts", index, "Le contact est supprimé.", "contacts")


@bp.route("/mon-compte/preferences", methods=["GET", "POST"])
@login_required
def preferences() -> Any:
    current = me()["notification_prefs"]
    if request.method == "POST":
        chosen = request.form.getlist("prefs")
        changes = {"email": "email" in chosen, **{key: key in chosen for key, _ in PREFS}}
        errors = _update({"notification_prefs": changes})
        if not errors:
            flash("Vos préférences de notification sont enregistrées.", "success")
            return redirect("/mon-compte#preferences")
    return render_template("account/preferences.html", page_title="Mes préférences de notification", current=current,
                           prefs=PREFS)


@bp.route("/mon-compte/mot-de-passe", methods=["GET", "POST"])
@login_required
def mot_de_passe() -> Any:
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("new_password_confirm", ""):
            errors["new_password_confirm"] = ["Les deux mots de passe ne sont pas identiques."]
        else:
            pair, problem = call("change_password", g.token, request.form.get("current_password", ""), new)
            errors = field_errors(problem, default_field="current_password")
            if pair:
                flash("Votre mot de passe est changé. Un courriel vous le confirme.", "success")
                g.pop("new_session", None)
                return set_session(go("/mon-compte#securite"), pair)
    return render_template("account/mot_de_passe.html", page_title="Changer mon mot de passe", errors=errors,
                           has_errors=bool(errors), password_hint=PASSWORD_HINT)


@bp.route("/mon-compte/adresse-electronique", methods=["GET", "POST"])
@login_required
def adresse_electronique() -> Any:
    current = me()
    values = {"email": ""}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form("email")
        _, problem = call("request_email_change", g.token, values["email"])
        errors = field_errors(problem, default_field="email")
        if not errors:
            flash(f"Un lien de confirmation est envoyé à {values['email']}. Votre adresse changera quand vous "
                  "l’aurez ouvert.", "success")
            return redirect("/mon-compte#securite")
    return render_template("account/adresse_electronique.html", page_title="Changer mon adresse électronique",
                           me=current, values=values, errors=errors, has_errors=bool(errors))


@bp.get("/mon-compte/export")
@login_required
def export() -> Any:
    data = rpc("identity", "export_me", g.token)
    data = {"exported_at": datetime.now(UTC).isoformat(), **data}
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="mes-donnees-{day}.json"',
                             "Cache-Control": "no-store"})


@bp.route("/mon-compte/suppression", methods=["GET", "POST"])
@login_required
def suppression() -> Any:
    errors: dict[str, list[str]] = {}
    refused = None
    if request.method == "POST":
        if request.form.get("confirm") != "oui":
            errors["confirm"] = ["Cochez la case pour confirmer la suppression de votre compte."]
        else:
            _, problem = call("delete_me", g.token)
            if problem is None:
                flash("Votre compte est supprimé. Vos données personnelles sont effacées.", "success")
                g.pop("new_session", None)
                return clear_session(go("/"))
            refused = problem.get("detail")
    resp = make_response(render_template("account/suppression.html", page_title="Supprimer mon compte",
                                         errors=errors, has_errors=bool(errors), refused=refused))
    if refused:
        resp.status_code = 409
    return resp


# --- mes relations ----------------------------------------------------------------------------

@bp.get("/mes-relations")
@login_required
def relations() -> Any:
    items, _ = call("list_my_associations", g.token)
    return render_template("account/relations.html", page_title="Mes relations", items=items or [],
                           role_labels=ROLE_LABELS, date_fr=date_fr)


@bp.post("/mes-relations/<association_id>/quitter")
@login_required
def quitter(association_id: str) -> Any:
    call("leave_association", g.token, association_id)
    flash("Vous ne représentez plus cette association.", "success")
    return redirect("/mes-relations")


# --- back-office: associations and agents ---------------------------------------------------

def _admin() -> None:
    caller = page_caller()
    if caller is None or "admin" not in caller.roles:
        abort(403)


@bp.route("/backoffice/associations", methods=["GET", "POST"])
@staff_required
def bo_associations() -> Any:
    _admin()
    values = {"name": "", "rna": ""}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form("name", "rna")
        created, problem = call("create_association", g.token, values["name"], values["rna"])
        errors = field_errors(problem, default_field="name")
        if created:
            flash(f"L’association « {created['name']} » est enregistrée.", "success")
            return redirect(f"/backoffice/associations/{created['id']}")
    items, _ = call("list_associations", g.token)
    return render_template("account/bo_associations.html", page_title="Associations", items=items or [],
                           values=values, errors=errors, has_errors=bool(errors))


@bp.route("/backoffice/associations/<association_id>", methods=["GET", "POST"])
@staff_required
def bo_association(association_id: str) -> Any:
    _admin()
    values = {"email": "", "role": "", "until": ""}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form("email", "role", "until")
        granted, problem = call("grant_member", g.token, association_id, values["email"], values["role"],
                                values["until"] or None)
        errors = field_errors(problem, default_field="email")
        if granted:
            flash(f"Le droit de {granted['email']} est enregistré.", "success")
            return redirect(f"/backoffice/associations/{association_id}")
    assoc, _ = call("get_association", g.token, association_id)
    return render_template("account/bo_association.html", page_title=assoc["name"], assoc=assoc, values=values,
                           errors=errors, has_errors=bool(errors), roles=ROLES, role_labels=ROLE_LABELS, date_fr=date_fr)


@bp.post("/backoffice/associations/<association_id>/membres/<account_id>/retirer")
@staff_required
def bo_revoke(association_id: str, account_id: str) -> Any:
    _admin()
    call("revoke_member", g.token, association_id, account_id)
    flash("Le droit est retiré.", "success")
    return redirect(f"/backoffice/associations/{association_id}")


@bp.route("/backoffice/agents", methods=["GET", "POST"])
@staff_required
def bo_agents() -> Any:
    _admin()
    values = {"email": ""}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form("email")
        grant = request.form.get("action") != "retirer"
        result, problem = call("set_agent", g.token, values["email"], grant)
        errors = field_errors(problem, default_field="email")
        if result:
            flash(f"{result['email']} {'est désormais agent' if grant else 'n’est plus agent'} "
                  "(effectif à sa prochaine connexion).", "success")
            return redirect("/backoffice/agents")
    staff, _ = call("list_staff", g.token)
    return render_template("account/bo_agents.html", page_title="Agents de la ville", values=values, errors=errors,
                           has_errors=bool(errors), staff=staff or [])


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    init_franceconnect(app)
