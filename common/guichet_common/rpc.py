"""Nameko RPC whose requests and replies are transient AMQP messages.

Nameko publishes RPC requests and replies as persistent messages into durable queues, so
the broker writes every one to disk (and, with publisher confirms, confirms it only once
it is there). An RPC message is worth something only while its caller waits: its reply
queue expires with the caller, and a caller that lost the broker gets an error and retries
with its idempotency key. Writing it to disk buys nothing and costs the most on the
largest messages (a 2 MB file halves its broker time when transient: bench/
wallet_throughput.py). Events stay persistent: they are facts (db.Store publishes them).

Use these instead of nameko's: ``rpc`` (entrypoint), ``RpcProxy`` (dependency) and
``ClusterRpcProxy`` (standalone callers: gateway, tools, tests). Confirms stay on, so a
call to a service that is not running still raises ``UnknownService`` at once.
"""
from __future__ import annotations

from typing import Any

from kombu.entity import TRANSIENT_DELIVERY_MODE
from nameko import rpc as _rpc
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.standalone import rpc as _standalone


class TransientPublisher(Publisher):
    delivery_mode = TRANSIENT_DELIVERY_MODE


class Responder(_rpc.Responder):
    publisher_cls = TransientPublisher


class RpcConsumer(_rpc.RpcConsumer):
    def handle_result(self, message: Any, result: Any, exc_info: Any) -> Any:
        # nameko's RpcConsumer.handle_result, with the transient Responder
        config = self.container.config
        responder = Responder(
            config[AMQP_URI_CONFIG_KEY], _rpc.get_rpc_exchange(config),
            config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class Rpc(_rpc.Rpc):
    rpc_consumer = RpcConsumer()


rpc = Rpc.decorator


class RpcProxy(_rpc.RpcProxy):
    def __init__(self, target_service: str, **options: Any) -> None:
        options.setdefault("delivery_mode", TRANSIENT_DELIVERY_MODE)
        super().__init__(target_service, **options)


class _ClusterProxy(_standalone.ClusterProxy):
    def __getattr__(self, name: str) -> Any:
        if name not in self._proxies:
            self._proxies[name] = _rpc.ServiceProxy(
                self._worker_ctx, name, self._reply_listener, delivery_mode=TRANSIENT_DELIVERY_MODE)
        return self._proxies[name]


class ClusterRpcProxy(_standalone.ClusterRpcProxy):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._proxy = _ClusterProxy(self._worker_ctx, self._reply_listener)
