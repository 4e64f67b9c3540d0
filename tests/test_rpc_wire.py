"""The RPC wire format (guichet_common.wire, MessagePack): values come back as kombu's JSON
gave them, file bytes stay bytes, and every process is configured with it for RPC only."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import kombu
import kombu.serialization
import pytest
from guichet_common import config, wire
from guichet_common.rpc import ClusterRpcProxy, RpcProxy
from guichet_common.rpc import rpc as rpc_entrypoint
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


class _Echo:
    name = "wire_echo"

    @rpc_entrypoint
    def echo(self, value: object) -> object:
        return value


class _Caller:
    name = "wire_caller"
    echo_service = RpcProxy("wire_echo")

    @rpc_entrypoint
    def relay(self, value: object) -> object:
        return self.echo_service.echo(value)


def test_rpc_requests_and_replies_are_transient_on_the_broker(container_factory: Any, test_env: Any) -> None:
    """Every RPC message (standalone call, service-to-service call, both replies) crosses the
    broker as a transient message: a spy queue bound to the RPC exchange sees them all."""
    cfg = test_env.service_config("wallet")
    for cls in (_Echo, _Caller):
        container_factory(cls, cfg).start()
    with kombu.Connection(test_env.amqp_uri) as conn:
        spy = kombu.Queue(f"spy-{uuid.uuid4().hex}", kombu.Exchange("nameko-rpc", type="topic", durable=True),
                          routing_key="#", auto_delete=True, durable=False)
        spy(conn.default_channel).declare()
        with ClusterRpcProxy(cfg, timeout=10) as proxy:
            assert proxy.wire_caller.relay(b"\x00payload") == b"\x00payload"
        seen = []
        while (msg := spy(conn.default_channel).get(no_ack=True)) is not None:
            seen.append((msg.delivery_info["routing_key"], msg.properties.get("delivery_mode")))
    keys = [key for key, _ in seen]
    assert "wire_caller.relay" in keys and "wire_echo.echo" in keys
    assert len(seen) == 4, seen  # two requests, two replies
    assert {mode for _, mode in seen} == {1}, seen
