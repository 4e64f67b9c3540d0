"""Every event of guichet_common.events.CONSUMERS has exactly the declared consumers: the
Nameko services' event_handler entrypoints, and the gateway's live stream (pika)."""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from guichet_common import events
from guichet_common.config import SERVICES
from nameko.events import EventHandler
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR


def handled_by_services() -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for svc in SERVICES:
        module = importlib.import_module(f"guichet_{svc}.service")
        cls = getattr(module, f"{svc.capitalize()}Service")
        for _name, method in inspect.getmembers(cls, inspect.isfunction):
            for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
                if isinstance(entrypoint, EventHandler):
                    found.setdefault((entrypoint.source_service, entrypoint.event_type), set()).add(svc)
    return found


HANDLED = handled_by_services()


@pytest.mark.parametrize("key", sorted(events.CONSUMERS), ids=lambda k: f"{k[0]}.{k[1]}")
def test_declared_consumers_handle_the_event(key):
    declared = set(events.CONSUMERS[key])
    actual = set(HANDLED.get(key, set()))
    if "gateway" in declared:
        from guichet_gateway import live

        assert key == ("notify", live.ROUTING_KEY) and live.EXCHANGE == "notify.events"
        source = Path(live.__file__).read_text()
        assert "queue_bind" in source and "exclusive=True" in source
        actual.add("gateway")
    assert actual == declared


def test_no_handler_for_an_undeclared_event():
    undeclared = {k: v for k, v in HANDLED.items() if k not in events.CONSUMERS}
    assert not undeclared


def test_every_event_name_is_in_consumers():
    names = {v for k, v in vars(events).items() if k.isupper() and isinstance(v, str)}
    assert names == {evt for _, evt in events.CONSUMERS}
