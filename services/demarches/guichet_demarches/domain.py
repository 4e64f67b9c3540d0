"""Démarches rules without Nameko or SQLAlchemy: definitions, field validation,
conditions, workflow, tracking numbers. Unit-tested with plain data."""
from __future__ import annotations

import re
import secrets
from datetime import date
from typing import Any

FIELD_TYPES = ("text", "long_text", "email", "phone", "date", "number", "choice", "multi_choice",
               "checkbox", "address", "iban", "household_member")
PREFILL_KEYS = ("first_name", "last_name", "email", "phone", "address", "household_member")
AUDIENCES = ("individual", "association")

# The statuses every démarche has; `agent` says whether an agent may move a demande to it.
DEFAULT_STATUSES: list[dict[str, Any]] = [
    {"slug": "brouillon", "label": "Brouillon", "done": False},
    {"slug": "en_attente", "label": "En attente", "done": False},
    {"slug": "en_traitement", "label": "En traitement", "done": False},
    {"slug": "info_demandee", "label": "Informations demandées", "done": False},
    {"slug": "clos", "label": "Clos", "done": True},
    {"slug": "refuse", "label": "Refusé", "done": True},
    {"slug": "annule", "label": "Annulée", "done": True},
]
DEFAULT_TRANSITIONS: dict[str, list[str]] = {
    "en_attente": ["en_traitement", "clos", "refuse"],
    "en_traitement": ["clos", "refuse", "info_demandee"],
    "info_demandee": ["en_traitement", "clos", "refuse"],
}
# Statuses that belong to the citizen or the system, never an agent's target.
NOT_AGENT_TARGETS = frozenset({"brouillon", "en_attente", "annule"})
INFO_STATUS = "info_demandee"

MAX_TEXT = 500
MAX_LONG_TEXT = 10_000
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^\+?[0-9 .\-()]{6,20}$")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
POSTCODE_RE = re.compile(r"^[0-9]{5}$")
# Crockford base32 without I, L, O, U: easy to read aloud, no ambiguous letters.
TRACKING_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class DefinitionError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid definition")
        self.errors = errors


# --- definitions -------------------------------------------------------------------


def _str(value: Any, max_len: int = 300) -> str:
    return value.strip()[:max_len] if isinstance(value, str) else ""


def normalize_definition(raw: Any) -> dict[str, Any]:
    """A checked, normalised definition; DefinitionError listing every problem."""
    errors: dict[str, list[str]] = {}

    def err(key: str, msg: str) -> None:
        errors.setdefault(key, []).append(msg)

    if not isinstance(raw, dict):
        raise DefinitionError({"definition": ["La définition doit être un objet."]})
    slug = _str(raw.get("slug"), 80)
    if not SLUG_RE.match(slug):
        err("slug", "Identifiant invalide (lettres minuscules, chiffres et tirets).")
    title = _str(raw.get("title"))
    if not title:
        err("title", "Le titre est obligatoire.")
    audience = raw.get("audience", "individual")
    if audience not in AUDIENCES:
        err("audience", "Public attendu : individual ou association.")
    online = bool(raw.get("online", True))
    names: set[str] = set()
    steps: list[dict[str, Any]] = []
    raw_steps = raw.get("steps") or []
    if not isinstance(raw_steps, list):
        err("steps", "Les étapes doivent être une liste.")
        raw_steps = []
    if online and not raw_steps:
        err("steps", "Une démarche en ligne a au moins une étape.")
    step_ids: set[str] = set()
    for i, rs in enumerate(raw_steps):
        if not isinstance(rs, dict):
            err(f"steps[{i}]", "Étape invalide.")
            continue
        sid = _str(rs.get("id"), 63)
        if not NAME_RE.match(sid) or sid in step_ids:
            err(f"steps[{i}].id", "Identifiant d'étape invalide ou en double.")
        step_ids.add(sid)
        fields = []
        for j, rf in enumerate(_list(rs.get("fields"), f"steps[{i}].fields", err)):
            key = f"steps[{i}].fields[{j}]"
            if not isinstance(rf, dict):
                err(key, "Champ invalide.")
                continue
            name = _str(rf.get("name"), 63)
            if not NAME_RE.match(name) or name in names:
                err(key + ".name", "Nom de champ invalide ou en double.")
            names.add(name)
            ftype = rf.get("type", "text")
            if ftype not in FIELD_TYPES:
                err(key + ".type", "Type inconnu : " + ", ".join(FIELD_TYPES) + ".")
            field: dict[str, Any] = {"name": name, "label": _str(rf.get("label")) or name, "type": ftype,
                                     "required": bool(rf.get("required", False))}
            if rf.get("hint"):
                field["hint"] = _str(rf["hint"], 500)
            if ftype in ("choice", "multi_choice"):
                opts = []
                for o in _list(rf.get("options"), key + ".options", err):
                    if isinstance(o, dict) and _str(o.get("value"), 100):
                        opts.append({"value": _str(o["value"], 100), "label": _str(o.get("label")) or _str(o["value"])})
                    elif isinstance(o, str) and o.strip():
                        opts.append({"value": o.strip()[:100], "label": o.strip()})
                if not opts:
                    err(key + ".options", "Un choix a au moins une option.")
                field["options"] = opts
            if rf.get("prefill"):
                if rf["prefill"] not in PREFILL_KEYS:
                    err(key + ".prefill", "Pré-remplissage inconnu : " + ", ".join(PREFILL_KEYS) + ".")
                field["prefill"] = rf["prefill"]
            if ftype == "number":
                for bound in ("min", "max"):
                    if isinstance(rf.get(bound), (int, float)):
                        field[bound] = rf[bound]
            cond = _condition(rf.get("show_if"), names - {name})
            if cond is False:
                err(key + ".show_if", "Condition invalide : un champ précédent et une valeur.")
            elif cond:
                field["show_if"] = cond
            fields.append(field)
        step: dict[str, Any] = {"id": sid, "title": _str(rs.get("title")) or sid, "fields": fields}
        cond = _condition(rs.get("show_if"), {n for s in steps for n in (f["name"] for f in s["fields"])})
        if cond is False:
            err(f"steps[{i}].show_if", "Condition invalide : un champ d'une étape précédente et une valeur.")
        elif cond:
            step["show_if"] = cond
        steps.append(step)
    attachments = []
    for k, ra in enumerate(_list(raw.get("attachments"), "attachments", err)):
        if not isinstance(ra, dict):
            err(f"attachments[{k}]", "Pièce invalide.")
            continue
        name = _str(ra.get("name"), 63)
        if not NAME_RE.match(name) or name in names:
            err(f"attachments[{k}].name", "Nom de pièce invalide ou en double.")
        names.add(name)
        att = {"name": name, "label": _str(ra.get("label")) or name, "kind": _str(ra.get("kind"), 40) or None,
               "required": bool(ra.get("required", False))}
        if ra.get("hint"):
            att["hint"] = _str(ra["hint"], 500)
        attachments.append(att)
    statuses = [dict(s) for s in DEFAULT_STATUSES]
    known = {s["slug"] for s in statuses}
    wf = raw.get("workflow") or {}
    if not isinstance(wf, dict):
        err("workflow", "Le circuit doit être un objet {statuses, transitions}.")
        wf = {}
    for k, rs in enumerate(_list(wf.get("statuses"), "workflow.statuses", err)):
        sslug = _str(rs.get("slug") if isinstance(rs, dict) else None, 40)
        if not NAME_RE.match(sslug):
            err(f"workflow.statuses[{k}]", "Statut invalide.")
            continue
        entry = {"slug": sslug, "label": _str(rs.get("label")) or sslug, "done": bool(rs.get("done", False))}
        if sslug in known:  # a démarche may relabel a default status
            statuses = [entry if s["slug"] == sslug else s for s in statuses]
        else:
            statuses.append(entry)
            known.add(sslug)
    transitions = {k: list(v) for k, v in DEFAULT_TRANSITIONS.items()}
    raw_transitions = wf.get("transitions") or {}
    if not isinstance(raw_transitions, dict):
        err("workflow.transitions", "Les transitions doivent être un objet {statut: [statuts]}.")
        raw_transitions = {}
    for src, targets in raw_transitions.items():
        if src not in known or not isinstance(targets, list) or any(
                not isinstance(t, str) or t not in known or t in NOT_AGENT_TARGETS for t in targets):
            err(f"workflow.transitions.{src}", "Transition invalide.")
            continue
        transitions[src] = list(targets)
    if errors:
        raise DefinitionError(errors)
    return {"slug": slug, "title": title, "description": _str(raw.get("description"), 5000),
            "audience": audience, "online": online, "info_url": _str(raw.get("info_url"), 500) or None,
            "steps": steps, "attachments": attachments, "statuses": statuses, "transitions": transitions}


def _list(value: Any, key: str, err: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        err(key, "Une liste est attendue.")
        return []
    return value


def _condition(raw: Any, earlier: set[str]) -> dict[str, Any] | None | bool:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("field"), str) or raw["field"] not in earlier \
            or "equals" not in raw:
        return False
    return {"field": raw["field"], "equals": raw["equals"]}


def all_fields(defn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for s in defn["steps"] for f in s["fields"]}


def status_info(defn: dict[str, Any], slug: str) -> dict[str, Any]:
    for s in defn.get("statuses") or DEFAULT_STATUSES:
        if s["slug"] == slug:
            return s
    return {"slug": slug, "label": slug, "done": False}


def status_label(defn: dict[str, Any], slug: str) -> str:
    return str(status_info(defn, slug)["label"])


def in_progress_statuses(defn: dict[str, Any]) -> set[str]:
    return {s["slug"] for s in defn["statuses"] if not s["done"] and s["slug"] != "brouillon"}


def allowed_transitions(defn: dict[str, Any], current: str) -> list[str]:
    return list(defn.get("transitions", DEFAULT_TRANSITIONS).get(current, []))


def public_definition(defn: dict[str, Any]) -> dict[str, Any]:
    """The catalogue view (CONTRACT §3)."""
    return {"slug": defn["slug"], "title": defn["title"], "description": defn["description"],
            "online": defn["online"], "audience": defn["audience"], "info_url": defn.get("info_url"),
            "steps": defn["steps"], "attachments": defn["attachments"],
            "statuses": [{"slug": s["slug"], "label": s["label"], "done": s["done"]} for s in defn["statuses"]]}


# --- conditions and validation ---------------------------------------------------------


def condition_met(cond: dict[str, Any] | None, answers: dict[str, Any]) -> bool:
    if not cond:
        return True
    value = answers.get(cond["field"])
    if isinstance(value, list):
        return cond["equals"] in value
    if isinstance(cond["equals"], bool):
        return bool(value) == cond["equals"]
    return value == cond["equals"] or (value is not None and str(value) == str(cond["equals"]))


def visible_steps(defn: dict[str, Any], answers: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in defn["steps"] if condition_met(s.get("show_if"), answers)]


def visible_fields(step: dict[str, Any], answers: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in step["fields"] if condition_met(f.get("show_if"), answers)]


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {} or value is False


def iban_valid(value: str) -> bool:
    s = re.sub(r"\s+", "", value).upper()
    if not re.match(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$", s):
        return False
    moved = s[4:] + s[:4]
    digits = "".join(str(int(c, 36)) for c in moved)
    return int(digits) % 97 == 1


def clean_value(field: dict[str, Any], value: Any) -> Any:
    """The stored form of one answer; ValueError with a French message when invalid.
    None means "no answer"."""
    t = field["type"]
    if value is None or (isinstance(value, str) and not value.strip() and t != "checkbox"):
        return None
    if t in ("text", "household_member"):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError("Saisissez un texte.")
        v = str(value).strip()
        if len(v) > MAX_TEXT:
            raise ValueError(f"Saisissez {MAX_TEXT} caractères au plus.")
        return v
    if t == "long_text":
        if not isinstance(value, str):
            raise ValueError("Saisissez un texte.")
        v = value.strip()
        if len(v) > MAX_LONG_TEXT:
            raise ValueError(f"Saisissez {MAX_LONG_TEXT} caractères au plus.")
        return v
    if t == "email":
        v = str(value).strip() if isinstance(value, str) else ""
        if not EMAIL_RE.match(v) or len(v) > 320:
            raise ValueError("Saisissez une adresse électronique valide, comme nom@exemple.fr.")
        return v
    if t == "phone":
        v = str(value).strip() if isinstance(value, str) else ""
        if not PHONE_RE.match(v) or sum(c.isdigit() for c in v) < 6:
            raise ValueError("Saisissez un numéro de téléphone valide, comme 01 23 45 67 89.")
        return v
    if t == "date":
        if not isinstance(value, str):
            raise ValueError("Saisissez une date au format AAAA-MM-JJ.")
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError("Saisissez une date réelle au format AAAA-MM-JJ.") from None
    if t == "number":
        if isinstance(value, bool):
            raise ValueError("Saisissez un nombre.")
        try:
            num = float(str(value).replace(",", ".").replace(" ", "")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ValueError("Saisissez un nombre.") from None
        if num != num or num in (float("inf"), float("-inf")):
            raise ValueError("Saisissez un nombre.")
        if "min" in field and num < field["min"]:
            raise ValueError(f"Le nombre doit être supérieur ou égal à {field['min']}.")
        if "max" in field and num > field["max"]:
            raise ValueError(f"Le nombre doit être inférieur ou égal à {field['max']}.")
        return int(num) if num.is_integer() else num
    if t == "choice":
        allowed = {o["value"] for o in field["options"]}
        if not isinstance(value, str) or value not in allowed:
            raise ValueError("Choisissez une des options proposées.")
        return value
    if t == "multi_choice":
        allowed = {o["value"] for o in field["options"]}
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or any(not isinstance(v, str) or v not in allowed for v in items):
            raise ValueError("Choisissez parmi les options proposées.")
        return [o["value"] for o in field["options"] if o["value"] in items] or None
    if t == "checkbox":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("oui", "true", "on", "1", "yes"):
            return True
        if isinstance(value, str) and value.lower() in ("non", "false", "off", "0", "no", ""):
            return False
        raise ValueError("Cochez ou décochez la case.")
    if t == "address":
        return _clean_address(value)
    if t == "iban":
        if not isinstance(value, str) or not iban_valid(value):
            raise ValueError("Saisissez un IBAN valide, comme FR76 3000 6000 0112 3456 7890 189.")
        s = re.sub(r"\s+", "", value).upper()
        return " ".join(s[i:i + 4] for i in range(0, len(s), 4))
    raise ValueError("Type de champ inconnu.")


def _clean_address(value: Any) -> dict[str, str] | None:
    if isinstance(value, str):
        value = {"street": value}
    if not isinstance(value, dict):
        raise ValueError("Saisissez une adresse.")
    street = str(value.get("street") or value.get("line") or value.get("line1") or "").strip()
    postcode = str(value.get("postcode") or value.get("postal_code") or "").strip()
    city = str(value.get("city") or "").strip()
    if not (street or postcode or city):
        return None
    if not street or len(street) > 200:
        raise ValueError("Saisissez le numéro et la voie.")
    if not POSTCODE_RE.match(postcode):
        raise ValueError("Saisissez un code postal à 5 chiffres.")
    if not city or len(city) > 100:
        raise ValueError("Saisissez la commune.")
    return {"street": street, "postcode": postcode, "city": city}


def validate_step(defn: dict[str, Any], step_id: str, answers: dict[str, Any], data: Any,
                  check_required: bool = True) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Merge `data` into the answers for one step: (new answers, errors by field)."""
    step = next((s for s in defn["steps"] if s["id"] == step_id), None)
    if step is None:
        raise KeyError(step_id)
    if not isinstance(data, dict):
        return answers, {"data": ["Les réponses doivent être un objet {champ: valeur}."]}
    names = {f["name"]: f for f in step["fields"]}
    errors: dict[str, list[str]] = {}
    merged = dict(answers)
    for key, value in data.items():
        field = names.get(key)
        if field is None:
            errors[str(key)[:63]] = ["Ce champ n'existe pas dans cette étape."]
            continue
        try:
            cleaned = clean_value(field, value)
        except ValueError as exc:
            errors[key] = [str(exc)]
            continue
        if cleaned is None:
            merged.pop(key, None)
        else:
            merged[key] = cleaned
    if check_required:
        for f in visible_fields(step, merged):
            if f["required"] and is_empty(merged.get(f["name"])) and f["name"] not in errors:
                errors[f["name"]] = [required_message(f)]
    return merged, errors


def validate_patch(defn: dict[str, Any], answers: dict[str, Any], data: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A partial change of the answers of a submitted demande (any step)."""
    if not isinstance(data, dict):
        return answers, {"data": ["Les réponses doivent être un objet {champ: valeur}."]}
    fields = all_fields(defn)
    errors: dict[str, list[str]] = {}
    merged = dict(answers)
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            errors[str(key)[:63]] = ["Ce champ n'existe pas dans cette démarche."]
            continue
        try:
            cleaned = clean_value(field, value)
        except ValueError as exc:
            errors[key] = [str(exc)]
            continue
        if cleaned is None:
            merged.pop(key, None)
        else:
            merged[key] = cleaned
    if not errors:
        errors = missing_answers(defn, merged)
    return merged, errors


def required_message(field: dict[str, Any]) -> str:
    if field["type"] in ("choice", "multi_choice"):
        return f"Choisissez : {field['label']}."
    if field["type"] == "checkbox":
        return f"Cochez la case : {field['label']}."
    return f"Renseignez : {field['label']}."


def missing_answers(defn: dict[str, Any], answers: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for step in visible_steps(defn, answers):
        for f in visible_fields(step, answers):
            if f["required"] and is_empty(answers.get(f["name"])):
                errors[f["name"]] = [required_message(f)]
    return errors


def missing_attachments(defn: dict[str, Any], present: set[str]) -> dict[str, list[str]]:
    return {a["name"]: [f"Joignez : {a['label']}."] for a in defn["attachments"]
            if a["required"] and a["name"] not in present}


def visible_answers(defn: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """Only the answers of visible fields count (a hidden field's old answer is ignored)."""
    keep: dict[str, Any] = {}
    for step in visible_steps(defn, answers):
        for f in visible_fields(step, answers):
            if f["name"] in answers:
                keep[f["name"]] = answers[f["name"]]
    return keep


# --- profile -------------------------------------------------------------------------


def prefill(defn: dict[str, Any], answers: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, Any]:
    """Answers completed from the profile (never overwriting what the person typed)."""
    if not profile:
        return answers
    out = dict(answers)
    for f in all_fields(defn).values():
        key = f.get("prefill")
        if not key or not is_empty(out.get(f["name"])):
            continue
        value = profile_value(profile, key)
        if value in (None, "", [], {}):
            continue
        try:
            cleaned = clean_value(f, value)
        except ValueError:
            continue
        if cleaned is not None:
            out[f["name"]] = cleaned
    return out


def profile_value(profile: dict[str, Any], key: str) -> Any:
    if key == "address":
        addrs = profile.get("addresses") or []
        return addrs[0] if addrs and isinstance(addrs[0], (dict, str)) else None
    if key == "household_member":
        return None  # a choice among several people: the form offers them, nothing is guessed
    return profile.get(key)


def household_names(profile: dict[str, Any] | None) -> list[str]:
    out = []
    for m in (profile or {}).get("household") or []:
        if isinstance(m, dict):
            name = " ".join(str(m.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
            if name:
                out.append(name)
        elif isinstance(m, str) and m.strip():
            out.append(m.strip())
    return out


def profile_changes(defn: dict[str, Any], answers: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, Any]:
    """What the answers add to the profile (PATCH /me body), for "mettre à jour mon profil"."""
    profile = profile or {}
    changes: dict[str, Any] = {}
    for f in all_fields(defn).values():
        key, value = f.get("prefill"), answers.get(f["name"])
        if not key or is_empty(value):
            continue
        if key in ("first_name", "last_name", "phone") and value != profile.get(key):
            changes[key] = value
        elif key == "address":
            addrs = list(profile.get("addresses") or [])
            if isinstance(value, dict) and not any(_same_address(a, value) for a in addrs):
                changes["addresses"] = [value, *addrs]
    return changes


def _same_address(a: Any, b: dict[str, str]) -> bool:
    try:
        return _clean_address(a) == b
    except ValueError:
        return False


# --- tracking numbers and search -----------------------------------------------------------


def new_tracking_number(prefix: str = "GU") -> str:
    """60 random bits in Crockford base32: unguessable, readable on the phone."""
    chars = "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(12))
    return f"{prefix}-{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def normalize_tracking(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    s = re.sub(r"[\s\-]", "", value).upper().replace("O", "0").replace("I", "1").replace("L", "1")
    if not re.match(r"^[A-Z0-9]{2}[0-9A-Z]{12}$", s):
        return None
    return f"{s[:2]}-{s[2:6]}-{s[6:10]}-{s[10:]}"


def search_text(tracking: str | None, applicant: str, title: str, answers: dict[str, Any]) -> str:
    parts = [tracking or "", applicant, title]
    for v in answers.values():
        if isinstance(v, dict):
            parts.extend(str(x) for x in v.values())
        elif isinstance(v, list):
            parts.extend(str(x) for x in v)
        elif not isinstance(v, bool):
            parts.append(str(v))
    return " ".join(p for p in parts if p).lower()[:4000]


def anonymise_answers(defn: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """What stays of a deleted person's answers: only closed choices and numbers."""
    keep_types = {"choice", "multi_choice", "checkbox", "number", "date"}
    fields = all_fields(defn)
    out = {}
    for name, value in answers.items():
        f = fields.get(name)
        if f and f["type"] in keep_types and not f.get("prefill") and f["type"] != "date":
            out[name] = value
    return out
