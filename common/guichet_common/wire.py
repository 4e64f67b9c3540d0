"""The RPC wire format: MessagePack, so file bytes travel as bytes (no base64, no JSON escaping).

Registered with kombu under the name ``msgpack`` (content type ``application/x-msgpack``,
the same as kombu's own msgpack serializer, which it replaces in the process) through
Nameko's ``SERIALIZERS`` config key (see ``config.RPC_SERIALIZATION``). It keeps what kombu's
JSON serializer gave the code so far, so a caller sees the same values whichever format
it used:
- ``bytes`` stay ``bytes`` (bin type), ``str`` stay ``str``; tuples come back as lists;
- ``datetime``, ``date``, ``time``, ``Decimal`` and ``UUID`` round-trip (extension types,
  as kombu's JSON does with its ``__type__`` markers);
- dict keys that are not strings become strings as JSON would make them (``1`` -> ``"1"``).
Events stay JSON (the gateway's live stream reads them with pika).
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import msgpack

NAME = "msgpack"
CONTENT_TYPE = "application/x-msgpack"

_DATETIME, _DATE, _TIME, _DECIMAL, _UUID = 1, 2, 3, 4, 5


def _default(o: Any) -> Any:
    if isinstance(o, datetime):  # before date: a datetime is a date
        return msgpack.ExtType(_DATETIME, o.isoformat().encode())
    if isinstance(o, date):
        return msgpack.ExtType(_DATE, o.isoformat().encode())
    if isinstance(o, time):
        return msgpack.ExtType(_TIME, o.isoformat().encode())
    if isinstance(o, Decimal):
        return msgpack.ExtType(_DECIMAL, str(o).encode())
    if isinstance(o, uuid.UUID):
        return msgpack.ExtType(_UUID, o.hex.encode())
    if isinstance(o, (bytearray, memoryview)):
        return bytes(o)
    reducer = getattr(o, "__json__", None)  # as kombu's JSON encoder
    if reducer is not None:
        return reducer()
    raise TypeError(f"Object of type {type(o).__name__} is not serializable")


def _ext_hook(code: int, data: bytes) -> Any:
    text = data.decode()
    if code == _DATETIME:
        return datetime.fromisoformat(text)
    if code == _DATE:
        return date.fromisoformat(text)
    if code == _TIME:
        return time.fromisoformat(text)
    if code == _DECIMAL:
        return Decimal(text)
    if code == _UUID:
        return uuid.UUID(text)
    return msgpack.ExtType(code, data)


def _json_key(key: Any) -> Any:
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, (int, float)):
        return str(key) if isinstance(key, int) else repr(key)
    return key  # anything else: msgpack refuses it, as JSON would


def _keys_are_str(o: Any) -> bool:
    if isinstance(o, dict):
        return all(isinstance(k, str) and _keys_are_str(v) for k, v in o.items())
    if isinstance(o, (list, tuple)):
        return all(_keys_are_str(v) for v in o)
    return True


def _str_keys(o: Any) -> Any:
    if isinstance(o, dict):
        return {_json_key(k): _str_keys(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_str_keys(v) for v in o]
    return o


def dumps(obj: Any) -> bytes:
    if not _keys_are_str(obj):
        obj = _str_keys(obj)
    return msgpack.packb(obj, use_bin_type=True, default=_default)  # type: ignore[no-any-return]


def loads(data: bytes | bytearray | memoryview) -> Any:
    return msgpack.unpackb(data, raw=False, ext_hook=_ext_hook, strict_map_key=False)
