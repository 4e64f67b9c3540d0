"""The OpenAPI 3.1 document: one YAML file per area in this folder, merged."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent


def document() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((HERE / "base.yaml").read_text(encoding="utf-8"))
    for part in sorted(HERE.glob("*.yaml")):
        if part.name == "base.yaml":
            continue
        data = yaml.safe_load(part.read_text(encoding="utf-8")) or {}
        doc["paths"].update(data.get("paths", {}))
        for kind, items in (data.get("components") or {}).items():
            doc["components"].setdefault(kind, {}).update(items)
        doc["tags"].extend(data.get("tags", []))
    return doc
