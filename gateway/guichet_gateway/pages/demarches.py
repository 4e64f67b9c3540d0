"""Citizen pages of the démarches: home and catalogue, a démarche's page, the step-by-step
form (saved at each "Suivant"), pieces, summary and sending, "Mes demandes", a demande's
follow-up, and the anonymous tracking page. Every page works without JavaScript."""
from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, flash, g, redirect, render_template, request
from guichet_common.errors import parse_remote
from nameko.exceptions import RemoteError

from .formatting import date_fr
from .session import login_required, page_caller, rpc

bp = Blueprint("demarches_pages", __name__)
STATUS_TAGS = {"brouillon": "govuk-tag--grey", "en_attente": "govuk-tag--blue", "en_traitement": "govuk-tag--yellow",
               "info_demandee": "govuk-tag--orange", "clos": "govuk-tag--green", "refuse": "govuk-tag--red",
               "annule": "govuk-tag--grey"}
SAVED = "Vos réponses ont été enregistrées."




def answer_text(field: dict[str, Any], value: Any) -> str:
    """An answer as a person reads it on the summary."""
    if value is None or value == "" or value == []:
        return "Non renseigné"
    t = field["type"]
    labels = {o["value"]: o["label"] for o in field.get("options") or []}
    if t == "choice":
        return str(labels.get(value, value))
    if t == "multi_choice":
        return ", ".join(str(labels.get(v, v)) for v in value)
    if t == "checkbox":
        return "Oui" if value else "Non"
    if t == "address" and isinstance(value, dict):
        return f"{value.get('street', '')}, {value.get('postcode', '')} {value.get('city', '')}"
    if t == "date":
        try:
            return date_fr(datetime.fromisoformat(str(value)).isoformat(), with_time=False)
        except ValueError:
            return str(value)
    return str(value)


def condition_met(cond: dict[str, Any] | None, answers: dict[str, Any]) -> bool:
    if not cond:
        return True
    value = answers.get(cond["field"])
    if isinstance(value, list):
        return cond["equals"] in value
    if isinstance(cond["equals"], bool):
        return bool(value) == cond["equals"]
    return value == cond["equals"] or (value is not None and str(value) == str(cond["equals"]))


def condition_hint(cond: dict[str, Any] | None, fields: dict[str, dict[str, Any]]) -> str:
    if not cond or cond["field"] not in fields:
        return ""
    f = fields[cond["field"]]
    return f"À remplir seulement si « {f['label']} » : {answer_text(f, cond['equals'])}."


HELPERS = {"date_fr": date_fr, "status_tags": STATUS_TAGS, "answer_text": answer_text,
           "condition_met": condition_met, "condition_hint": condition_hint}


def render(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, **HELPERS, **context), status


def problem(exc: RemoteError) -> dict[str, Any]:
    """A service error's payload; not found and forbidden become the error pages."""
    data = parse_remote(exc.value)
    if data is None:
        raise exc
    if data.get("kind") == "not_found":
        abort(404)
    if data.get("kind") == "forbidden":
        abort(403)
    return data


def call(method: str, *args: Any) -> Any:
    try:
        return rpc("demarches", method, *args)
    except RemoteError as exc:
        problem(exc)
        raise


# --- home, catalogue, tracking -----------------------------------------------------------


@bp.get("/")
def home() -> Any:
    demarches = call("list_demarches")
    return render("home.html", page_title="Démarches en ligne", demarches=demarches)


@bp.get("/demarches/<slug>")
def demarche(slug: str) -> Any:
    d = call("get_demarche", slug)
    associations: list[dict[str, Any]] = []
    caller = page_caller()
    if caller is not None and d["audience"] == "association" and d["online"]:
        try:
            associations = [a for a in rpc("identity", "list_my_associations", g.token)
                            if a.get("role") == "representative"]
        except RemoteError:
            associations = []
    return render("demarches/demarche.html", page_title=d["title"], d=d, associations=associations,
                  signed_in=caller is not None, errors={}, key=uuid.uuid4().hex)


@bp.post("/demarches/<slug>/commencer")
@login_required
def start(slug: str) -> Any:
    d = call("get_demarche", slug)
    association_id = request.form.get("association_id") or None
    if d["audience"] == "association" and not association_id:
        return render("demarches/demarche.html", 422, page_title=d["title"], d=d, associations=[], signed_in=True,
                      key=uuid.uuid4().hex, has_errors=True,
                      errors={"association_id": ["Choisissez l’association pour laquelle vous agissez."]})
    try:
        created = rpc("demarches", "create_demande", g.token, slug, association_id, request.form.get("cle"))
    except RemoteError as exc:
        data = problem(exc)
        return render("demarches/demarche.html", 409, page_title=d["title"], d=d, associations=[], signed_in=True,
                      key=uuid.uuid4().hex, has_errors=True, errors={"association_id": [data.get("detail", "")]})
    first = d["steps"][0]["id"] if d["steps"] else "pieces"
    return redirect(f"/demandes/{created['id']}/etapes/{first}")


@bp.get("/suivi")
def suivi() -> Any:
    number = (request.args.get("numero") or "").strip()
    result, errors = None, {}
    if number:
        try:
            result = rpc("demarches", "track", number)
        except RemoteError as exc:
            data = parse_remote(exc.value)
            if data is None:
                raise
            errors = {"numero": ["Aucune demande ne correspond à ce numéro de suivi. Vérifiez-le et recommencez."]}
    return render("demarches/suivi.html", 404 if errors else 200, page_title="Suivre une demande", number=number,
                  result=result, errors=errors, has_errors=bool(errors))


# --- the step-by-step form --------------------------------------------------------------------


def stepper(demande: dict[str, Any]) -> list[dict[str, Any]]:
    """The visible steps of the form, then pieces (when asked) and the summary."""
    defn, answers = demande["definition"], demande["answers"]
    items = [{"id": s["id"], "title": s["title"], "href": f"/demandes/{demande['id']}/etapes/{s['id']}"}
             for s in defn["steps"] if condition_met(s.get("show_if"), answers)]
    if defn["attachments"]:
        items.append({"id": "pieces", "title": "Pièces justificatives", "href": f"/demandes/{demande['id']}/pieces"})
    items.append({"id": "recapitulatif", "title": "Récapitulatif", "href": f"/demandes/{demande['id']}/recapitulatif"})
    return items


def neighbours(items: list[dict[str, Any]], current: str) -> tuple[str | None, str | None]:
    ids = [i["id"] for i in items]
    if current not in ids:
        return None, items[0]["href"] if items else None
    k = ids.index(current)
    return (items[k - 1]["href"] if k > 0 else None), (items[k + 1]["href"] if k + 1 < len(items) else None)


def editable_or_redirect(demande: dict[str, Any]) -> Any:
    if not demande["editable"]:
        flash("Cette demande ne peut plus être modifiée.", "info")
        return redirect(f"/demandes/{demande['id']}")
    return None


def form_values(step: dict[str, Any]) -> dict[str, Any]:
    """The step's answers from the posted form, typed like the API expects."""
    data: dict[str, Any] = {}
    for f in step["fields"]:
        name, t = f["name"], f["type"]
        if t == "checkbox":
            data[name] = request.form.get(name) == "oui"
        elif t == "multi_choice":
            data[name] = request.form.getlist(name)
        elif t == "address":
            parts = {k: request.form.get(f"{name}.{k}", "").strip() for k in ("street", "postcode", "city")}
            data[name] = parts if any(parts.values()) else None
        else:
            data[name] = request.form.get(name, "")
    return data


@bp.route("/demandes/<demande_id>/etapes/<step_id>", methods=["GET", "POST"])
@login_required
def step(demande_id: str, step_id: str) -> Any:
    demande = call("get_demande", g.token, demande_id)
    moved = editable_or_redirect(demande)
    if moved:
        return moved
    defn = demande["definition"]
    current = next((s for s in defn["steps"] if s["id"] == step_id), None)
    if current is None:
        abort(404)
    errors: dict[str, list[str]] = {}
    values = demande["answers"]
    if request.method == "POST":
        data = form_values(current)
        try:
            demande = rpc("demarches", "save_step", g.token, demande_id, step_id, data)
        except RemoteError as exc:
            payload = problem(exc)
            errors = payload.get("errors") or {"_": [payload.get("detail", "")]}
            values = dict(values, **{k: v for k, v in data.items() if v is not None})
        else:
            flash(SAVED, "success")
            items = stepper(demande)
            _, nxt = neighbours(items, step_id)
            if request.form.get("action") == "precedent":
                prev, _ = neighbours(items, step_id)
                return redirect(prev or f"/demarches/{defn['slug']}")
            return redirect(nxt or f"/demandes/{demande_id}/recapitulatif")
    items = stepper(demande)
    prev, _ = neighbours(items, step_id)
    household = []
    if any(f["type"] == "household_member" for f in current["fields"]):
        try:
            me = rpc("identity", "get_me", g.token)
            household = [" ".join(x for x in (m.get("first_name", ""), m.get("last_name", "")) if x).strip()
                         for m in me.get("household") or [] if isinstance(m, dict)]
        except RemoteError:
            household = []
    all_fields = {f["name"]: f for s in defn["steps"] for f in s["fields"]}
    return render("demarches/step.html", 422 if errors else 200, page_title=f"{current['title']} – {defn['title']}",
                  demande=demande, step=current, items=items, prev=prev, values=values, errors=errors,
                  has_errors=bool(errors), household=[h for h in household if h], all_fields=all_fields)


@bp.route("/demandes/<demande_id>/pieces", methods=["GET", "POST"])
@login_required
def pieces(demande_id: str) -> Any:
    demande = call("get_demande", g.token, demande_id)
    moved = editable_or_redirect(demande)
    if moved:
        return moved
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        requirement = request.form.get("requirement", "")
        upload = request.files.get(f"fichier-{requirement}")
        doc_id = request.form.get(f"document-{requirement}")
        try:
            if upload is not None and upload.filename:
                content = base64.b64encode(upload.read()).decode()
                rpc("demarches", "add_attachment", g.token, demande_id, requirement, upload.filename, content)
            elif doc_id:
                rpc("demarches", "add_attachment", g.token, demande_id, requirement, None, None, doc_id)
            else:
                errors = {f"document-{requirement}": ["Choisissez un document du porte-documents ou un fichier."]}
        except RemoteError as exc:
            payload = problem(exc)
            msgs = [m for v in (payload.get("errors") or {}).values() for m in v] or [payload.get("detail", "")]
            errors = {f"document-{requirement}": msgs}
        if not errors:
            flash("La pièce a été jointe à votre demande.", "success")
            return redirect(f"/demandes/{demande_id}/pieces")
        demande = call("get_demande", g.token, demande_id)
    try:
        documents = rpc("wallet", "list_documents", g.token, 1, 200).get("items", [])
    except RemoteError:
        documents = []
    items = stepper(demande)
    prev, nxt = neighbours(items, "pieces")
    attached = {a["requirement"]: a for a in demande["attachments"] if a.get("requirement")}
    return render("demarches/pieces.html", 422 if errors else 200,
                  page_title=f"Pièces justificatives – {demande['demarche_title']}", demande=demande, items=items,
                  prev=prev, nxt=nxt, documents=documents, attached=attached, errors=errors, has_errors=bool(errors))


@bp.get("/demandes/<demande_id>/recapitulatif")
@login_required
def summary(demande_id: str) -> Any:
    demande = call("get_demande", g.token, demande_id)
    if demande["status"] != "brouillon":
        return redirect(f"/demandes/{demande_id}")
    return _summary(demande, {})


def _summary(demande: dict[str, Any], errors: dict[str, list[str]], status: int = 200) -> Any:
    items = stepper(demande)
    prev, _ = neighbours(items, "recapitulatif")
    step_of = {f["name"]: s["id"] for s in demande["definition"]["steps"] for f in s["fields"]}
    links = {name: (f"/demandes/{demande['id']}/etapes/{sid}") for name, sid in step_of.items()}
    for a in demande["definition"]["attachments"]:
        links[a["name"]] = f"/demandes/{demande['id']}/pieces"
    return render("demarches/summary.html", status, page_title=f"Récapitulatif – {demande['demarche_title']}",
                  demande=demande, items=items, prev=prev, errors=errors, has_errors=bool(errors), links=links,
                  key=uuid.uuid4().hex)


@bp.post("/demandes/<demande_id>/envoyer")
@login_required
def send(demande_id: str) -> Any:
    update_profile = request.form.get("mettre_a_jour_profil") == "oui"
    try:
        result = rpc("demarches", "submit_demande", g.token, demande_id, request.form.get("cle") or None, update_profile)
    except RemoteError as exc:
        payload = problem(exc)
        demande = call("get_demande", g.token, demande_id)
        if payload.get("kind") == "conflict":
            return redirect(f"/demandes/{demande_id}")
        return _summary(demande, payload.get("errors") or {"_": [payload.get("detail", "")]}, 422)
    flash(f"Votre demande a été envoyée. Votre numéro de suivi : {result['tracking_number']}.", "success")
    return redirect(f"/demandes/{demande_id}")


# --- follow-up ------------------------------------------------------------------------------


@bp.get("/demandes")
@login_required
def my_demandes() -> Any:
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    data = call("list_demandes", g.token, page, 50)
    return render("demarches/list.html", page_title="Mes demandes", data=data)


def _documents_if_asked(demande: dict[str, Any]) -> list[dict[str, Any]]:
    """The porte-documents, only when the agents asked for more (one RPC less otherwise)."""
    if demande["status"] != "info_demandee":
        return []
    try:
        return list(rpc("wallet", "list_documents", g.token, 1, 200).get("items", []))
    except RemoteError:
        return []


def _detail(demande: dict[str, Any], errors: dict[str, list[str]] | None = None, status: int = 200,
            body: str = "") -> Any:
    return render("demarches/detail.html", status, page_title=demande["demarche_title"], demande=demande,
                  items=stepper(demande), errors=errors or {}, has_errors=bool(errors), body=body,
                  documents=_documents_if_asked(demande))


@bp.get("/demandes/<demande_id>")
@login_required
def detail(demande_id: str) -> Any:
    return _detail(call("get_demande", g.token, demande_id))


@bp.post("/demandes/<demande_id>/complement")
@login_required
def complement(demande_id: str) -> Any:
    """A piece answering the agents' request for information."""
    upload = request.files.get("complement_fichier")
    doc_id = request.form.get("complement_document")
    try:
        if upload is not None and upload.filename:
            content = base64.b64encode(upload.read()).decode()
            rpc("demarches", "add_attachment", g.token, demande_id, None, upload.filename, content)
        elif doc_id:
            rpc("demarches", "add_attachment", g.token, demande_id, None, None, None, doc_id)
        else:
            return _detail(call("get_demande", g.token, demande_id),
                           {"complement_document": ["Choisissez un document du porte-documents ou un fichier."]}, 422)
    except RemoteError as exc:
        payload = problem(exc)
        msgs = [m for v in (payload.get("errors") or {}).values() for m in v] or [payload.get("detail", "")]
        return _detail(call("get_demande", g.token, demande_id), {"complement_document": msgs}, 422)
    flash("Le document a été joint à votre demande.", "success")
    return redirect(f"/demandes/{demande_id}")


@bp.post("/demandes/<demande_id>/messages")
@login_required
def message(demande_id: str) -> Any:
    body = request.form.get("body", "")
    try:
        rpc("demarches", "post_message", g.token, demande_id, body)
    except RemoteError as exc:
        payload = problem(exc)
        return _detail(call("get_demande", g.token, demande_id),
                       payload.get("errors") or {"body": [payload.get("detail", "")]}, 422, body)
    flash("Votre message a été envoyé.", "success")
    return redirect(f"/demandes/{demande_id}#messages")


@bp.post("/demandes/<demande_id>/annuler")
@login_required
def cancel(demande_id: str) -> Any:
    try:
        rpc("demarches", "cancel_demande", g.token, demande_id, "")
        flash("Votre demande a été annulée.", "success")
    except RemoteError as exc:
        flash(problem(exc).get("detail", "Cette demande ne peut plus être annulée."), "info")
    return redirect(f"/demandes/{demande_id}")


@bp.post("/demandes/<demande_id>/supprimer")
@login_required
def delete(demande_id: str) -> Any:
    try:
        rpc("demarches", "delete_demande", g.token, demande_id)
    except RemoteError as exc:
        flash(problem(exc).get("detail", "Ce brouillon ne peut pas être supprimé."), "info")
        return redirect(f"/demandes/{demande_id}")
    flash("Le brouillon a été supprimé.", "success")
    return redirect("/demandes")


@bp.get("/demandes/<demande_id>/pieces/<attachment_id>")
@login_required
def own_piece(demande_id: str, attachment_id: str) -> Any:
    f = call("read_own_attachment", g.token, demande_id, attachment_id)
    return file_download(f)


def file_download(f: dict[str, Any]) -> Response:
    resp = Response(base64.b64decode(str(f["content_b64"])), mimetype=str(f.get("content_type")
                                                                          or "application/octet-stream"))
    resp.headers.set("Content-Disposition", "attachment", filename=str(f.get("filename") or "piece"))
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def register(app: Flask) -> None:
    app.register_blueprint(bp)
