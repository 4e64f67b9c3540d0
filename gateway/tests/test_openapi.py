"""The OpenAPI document stays true: every /api/v1 route is in it, and nothing else."""
from __future__ import annotations

import re

from guichet_gateway import create_app


def _rules(app):
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "{}", rule.rule[len("/api/v1"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((path, method.lower()))
    return found


def test_every_api_route_is_documented_and_nothing_else():
    app = create_app({"TESTING": True, "SECRET_KEY": "x"})
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    # Parameter names may differ between the route and the document: compare the shapes.
    documented = {(re.sub(r"\{[^}]+\}", "{}", path), method) for path, ops in spec["paths"].items() for method in ops
                  if method in ("get", "post", "put", "patch", "delete")}
    routes = _rules(app)
    assert routes - documented == set(), "routes missing from openapi/*.yaml"
    assert documented - routes == set(), "documented paths that do not exist"


def test_every_operation_has_responses_and_problem_errors():
    app = create_app({"TESTING": True, "SECRET_KEY": "x"})
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue  # path-level keys such as shared `parameters`
            assert op.get("responses"), f"{method.upper()} {path} has no responses"
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
