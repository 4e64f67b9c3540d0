"""The RPC wire format (guichet_common.wire, MessagePack): values come back as kombu's JSON
gave them, file bytes stay bytes, and every process is configured with it for RPC only."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal

import kombu.serialization
import pytest
from guichet_common import config, wire
from nameko import serialization
from nameko.exceptions import deserialize, serialize


def test_values_round_trip_as_with_kombu_json() -> None:
    value = {"bytes": b"\x00\xff" * 10, "text": "é", "n": 3, "f": 1.5, "none": None, "list": (1, "a"),
             "at": datetime(2026, 11, 25, 18, 0, tzinfo=UTC), "naive": datetime(2026, 1, 2, 3, 4, 5),
             "day": date(2026, 11, 25), "hour": time(9, 30), "amount": Decimal("12.50"), "id": uuid.uuid4(),
             "nested": [{1: "one", None: "none", False: "no", 2.5: "x"}]}
    got = wire.loads(wire.dumps(value))
    content_type, encoding, body = kombu.serialization.dumps({k: v for k, v in value.items() if k != "bytes"}, "json")
    as_json = kombu.serialization.loads(body, content_type, encoding, accept={"application/json"})
    assert got["bytes"] == value["bytes"] and isinstance(got["bytes"], bytes)
    assert {k: v for k, v in got.items() if k != "bytes"} == as_json
    assert got["nested"] == [{"1": "one", "null": "none", "false": "no", "2.5": "x"}]


def test_unserializable_values_are_refused_like_json() -> None:
    with pytest.raises(TypeError):
        wire.dumps({"s": {1, 2}})


def test_remote_errors_survive_the_wire() -> None:
    exc = deserialize(wire.loads(wire.dumps(serialize(ValueError(b"\x00", {"k": 1})))))
    assert exc.exc_type == "ValueError"


def test_rpc_in_msgpack_events_in_json() -> None:
    cfg = config.service_config("wallet", {"GUICHET_VAR_DIR": "/tmp/x"})
    assert serialization.setup(cfg) == ("msgpack", ["msgpack", "json"])
    content_type, encoding, body = kombu.serialization.dumps({"b": b"\x01"}, "msgpack")
    assert (content_type, encoding) == (wire.CONTENT_TYPE, "binary")
    assert kombu.serialization.loads(body, content_type, encoding, accept={wire.CONTENT_TYPE}) == {"b": b"\x01"}
    assert config.EVENT_SERIALIZER == "json"
    json.dumps(config.RPC_SERIALIZATION)  # plain config data
