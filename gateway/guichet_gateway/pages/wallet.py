"""Porte-documents pages (/porte-documents) and the agents' justificatif review
(/backoffice/justificatifs). Every page works without JavaScript; with it, the upload
form shows a progress bar and checks size and extension before sending."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, g, jsonify, redirect, render_template, request
from flask_wtf.csrf import CSRFError, validate_csrf
from guichet_common.errors import BadRequest, GuichetError, parse_remote
from nameko.exceptions import RemoteError
from wtforms.validators import ValidationError

from ..api.wallet import document_content, file_response, receive_upload, wallet_limits
from .formatting import date_fr
from .session import login_required, rpc, staff_required

bp = Blueprint("wallet_pages", __name__)
ACCEPTED = (".doc", ".pdf", ".rtf", ".odt", ".gif", ".jpg", ".jpeg", ".png", ".tif")
TYPE_LABELS = {
    "application/pdf": "PDF", "image/png": "Image PNG", "image/gif": "Image GIF", "image/jpeg": "Image JPEG",
    "image/tiff": "Image TIFF", "application/rtf": "Texte RTF",
    "application/vnd.oasis.opendocument.text": "Texte OpenDocument", "application/msword": "Document Word",
}
KINDS = (("identite", "Pièce d’identité"), ("domicile", "Justificatif de domicile"),
         ("rib", "Relevé d’identité bancaire (RIB)"), ("revenus", "Avis d’imposition ou justificatif de revenus"),
         ("famille", "Livret de famille"), ("naissance", "Acte de naissance"), ("caf", "Attestation CAF"),
         ("autre", "Autre justificatif"))
STATUS_TAGS = {"pending": "govuk-tag--yellow", "validated": "govuk-tag--green", "refused": "govuk-tag--red",
               "expired": "govuk-tag--grey"}
ROLE_LABELS = {"owner": "Vous", "agent": "Agent de la ville", "admin": "Administrateur de la ville"}




def size_fr(n: int) -> str:
    if n >= 1024 * 1024:
        value, unit = n / (1024 * 1024), "Mo"
    elif n >= 1024:
        value, unit = n / 1024, "ko"
    else:
        return f"{n} octet{'s' if n > 1 else ''}"
    return f"{value:.1f}".rstrip("0").rstrip(".").replace(".", ",") + " " + unit


HELPERS = {"date_fr": date_fr, "size_fr": size_fr, "type_labels": TYPE_LABELS, "status_tags": STATUS_TAGS,
           "role_labels": ROLE_LABELS, "kinds": KINDS, "accepted": ACCEPTED}


def render(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, **HELPERS, **context), status


def problem_of(exc: Exception) -> dict[str, Any]:
    """{kind, detail, errors} of a service or gateway error; 404/403 become the error pages."""
    if isinstance(exc, GuichetError):
        data = exc.payload()
    elif isinstance(exc, RemoteError):
        data = parse_remote(exc.value) or {}
        if not data:
            raise exc
    else:
        raise exc
    if data.get("kind") == "not_found":
        abort(404)
    if data.get("kind") == "forbidden":
        abort(403)
    if data.get("kind") == "unavailable" and request.method == "GET":
        raise StoreDown()
    return data


class StoreDown(Exception):
    """The wallet or its store is down: a French 503 page with a retry hint."""


@bp.app_errorhandler(StoreDown)
def _store_down(_exc: StoreDown) -> Any:
    body, status = render("wallet/unavailable.html", 503, page_title="Service momentanément indisponible")
    return body, status, {"Retry-After": "5"}


STATUS_OF = {"too_large": 413, "unsupported_media": 415, "conflict": 409, "invalid": 422, "bad_request": 400,
             "unavailable": 503}


def call(service: str, method: str, *args: Any) -> Any:
    try:
        return rpc(service, method, *args)
    except RemoteError as exc:
        problem_of(exc)  # 404/403 pages
        raise


# --------------------------------------------------------------------------- citizen pages


def _list_page(errors: dict[str, list[str]] | None = None, detail: str = "", status: int = 200,
               title: str = "") -> Any:
    data = call("wallet", "list_documents", g.token, 1, 200)
    justificatifs = call("wallet", "list_justificatifs", g.token)
    return render("wallet/index.html", status, page_title="Porte-documents", data=data, errors=errors or {},
                  detail=detail, title_value=title, justificatifs=justificatifs, has_errors=bool(errors),
                  limits=wallet_limits())


@bp.get("/porte-documents")
@login_required
def index() -> Any:
    return _list_page()


def _check_csrf(fields: dict[str, str]) -> None:
    try:
        validate_csrf(fields.get("csrf_token"))
    except (ValidationError, CSRFError):
        raise BadRequest("Le formulaire a expiré : rechargez la page et recommencez.",
                         errors={"file": ["Le formulaire a expiré : rechargez la page et recommencez."]}) from None


@bp.post("/porte-documents/deposer")
@login_required
def upload() -> Any:
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        doc = receive_upload(g.token, before_file=_check_csrf)
    except (GuichetError, RemoteError) as exc:
        data = problem_of(exc)
        errors = data.get("errors") or {"file": [data.get("detail") or "L’envoi a échoué."]}
        status = STATUS_OF.get(data.get("kind", ""), 400)
        if wants_json:
            return jsonify({"detail": data.get("detail", ""), "errors": errors}), status
        return _list_page(errors, data.get("detail", ""), status, title=g.get("upload_fields", {}).get("title", ""))
    flash(f"Le document « {doc['filename']} » a été ajouté à votre porte-documents.", "success")
    target = f"/porte-documents/{doc['id']}"
    if wants_json:
        return jsonify({"redirect": target, "document": doc}), 201
    return redirect(target, 303)


def _document_page(document_id: str, errors: dict[str, list[str]] | None = None, status: int = 200,
                   values: dict[str, str] | None = None) -> Any:
    doc = call("wallet", "get_document", g.token, document_id)
    log = call("wallet", "access_log", g.token, document_id)
    justificatifs = [j for j in call("wallet", "list_justificatifs", g.token) if j["document_id"] == document_id]
    return render("wallet/document.html", status, page_title=doc["title"] or doc["filename"], doc=doc, log=log,
                  justificatifs=justificatifs, errors=errors or {}, values=values or {}, has_errors=bool(errors))


@bp.get("/porte-documents/<document_id>")
@login_required
def document(document_id: str) -> Any:
    return _document_page(document_id)


@bp.get("/porte-documents/<document_id>/telecharger")
@login_required
def download(document_id: str) -> Any:
    try:
        return document_content(g.token, document_id)
    except RemoteError as exc:
        problem_of(exc)
        raise


@bp.post("/porte-documents/<document_id>/renommer")
@login_required
def rename(document_id: str) -> Any:
    filename = request.form.get("filename", "")
    title = request.form.get("title", "")
    try:
        rpc("wallet", "rename_document", g.token, document_id, filename, title)
    except RemoteError as exc:
        data = problem_of(exc)
        return _document_page(document_id, data.get("errors") or {"filename": [data.get("detail", "")]},
                              STATUS_OF.get(data.get("kind", ""), 400), {"filename": filename, "title": title})
    flash("Le document a été renommé.", "success")
    return redirect(f"/porte-documents/{document_id}", 303)


@bp.get("/porte-documents/<document_id>/supprimer")
@login_required
def confirm_delete(document_id: str) -> Any:
    doc = call("wallet", "get_document", g.token, document_id)
    return render("wallet/delete.html", page_title="Supprimer un document", doc=doc)


@bp.post("/porte-documents/<document_id>/supprimer")
@login_required
def delete(document_id: str) -> Any:
    doc = call("wallet", "get_document", g.token, document_id)
    call("wallet", "delete_document", g.token, document_id)
    flash(f"Le document « {doc['filename']} » a été supprimé.", "success")
    return redirect("/porte-documents", 303)


@bp.post("/porte-documents/<document_id>/justificatif")
@login_required
def submit_justificatif(document_id: str) -> Any:
    kind = request.form.get("kind", "")
    try:
        rpc("wallet", "submit_justificatif", g.token, document_id, kind)
    except RemoteError as exc:
        data = problem_of(exc)
        return _document_page(document_id, data.get("errors") or {"kind": [data.get("detail", "")]},
                              STATUS_OF.get(data.get("kind", ""), 400), {"kind": kind})
    flash("Le document a été transmis pour vérification. Vous serez prévenu de la décision.", "success")
    return redirect("/porte-documents/justificatifs", 303)


@bp.get("/porte-documents/justificatifs")
@login_required
def justificatifs() -> Any:
    items = call("wallet", "list_justificatifs", g.token)
    return render("wallet/justificatifs.html", page_title="Mes justificatifs", items=items)


# --------------------------------------------------------------------------- back-office


@bp.get("/backoffice/justificatifs")
@staff_required
def review_list() -> Any:
    status = request.args.get("statut", "pending")
    if status not in ("pending", "validated", "refused", "expired", "all"):
        status = "pending"
    data = call("wallet", "review_justificatifs", g.token, status, 1, 200)
    return render("wallet/review_list.html", page_title="Justificatifs à vérifier", data=data, current_status=status)


def _review_page(justificatif_id: str, errors: dict[str, list[str]] | None = None, status: int = 200,
                 values: dict[str, str] | None = None) -> Any:
    j = call("wallet", "review_justificatif", g.token, justificatif_id)
    return render("wallet/review.html", status, page_title=f"Justificatif : {j['kind_label']}", j=j,
                  errors=errors or {}, values=values or {}, has_errors=bool(errors))


@bp.get("/backoffice/justificatifs/<justificatif_id>")
@staff_required
def review(justificatif_id: str) -> Any:
    return _review_page(justificatif_id)


@bp.get("/backoffice/justificatifs/<justificatif_id>/fichier")
@staff_required
def review_file(justificatif_id: str) -> Any:
    inline = request.args.get("apercu") == "1"
    return file_response(call("wallet", "read_justificatif", g.token, justificatif_id, True), inline=inline)


@bp.post("/backoffice/justificatifs/<justificatif_id>/valider")
@staff_required
def review_validate(justificatif_id: str) -> Any:
    parts = [request.form.get(f"valid_until-{p}", "").strip() for p in ("year", "month", "day")]
    value = "-".join([parts[0], parts[1].zfill(2), parts[2].zfill(2)]) if all(parts) else ""
    try:
        rpc("wallet", "validate_justificatif", g.token, justificatif_id, value)
    except RemoteError as exc:
        data = problem_of(exc)
        return _review_page(justificatif_id, data.get("errors") or {"valid_until": [data.get("detail", "")]},
                            STATUS_OF.get(data.get("kind", ""), 400),
                            dict(zip(("year", "month", "day"), parts, strict=True)))
    flash("Le justificatif est validé. Le citoyen en est informé.", "success")
    return redirect("/backoffice/justificatifs", 303)


@bp.post("/backoffice/justificatifs/<justificatif_id>/refuser")
@staff_required
def review_refuse(justificatif_id: str) -> Any:
    reason = request.form.get("reason", "")
    try:
        rpc("wallet", "refuse_justificatif", g.token, justificatif_id, reason)
    except RemoteError as exc:
        data = problem_of(exc)
        return _review_page(justificatif_id, data.get("errors") or {"reason": [data.get("detail", "")]},
                            STATUS_OF.get(data.get("kind", ""), 400), {"reason": reason})
    flash("Le justificatif est refusé. Le citoyen est informé du motif.", "success")
    return redirect("/backoffice/justificatifs", 303)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    # The upload streams its body (no temporary file): its CSRF token is checked by
    # _check_csrf as the multipart arrives, before the file part.
    csrf = app.extensions.get("guichet_csrf")
    if csrf is not None:
        csrf.exempt(upload)
