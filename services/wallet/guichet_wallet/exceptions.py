"""Errors the wallet service raises over RPC."""
from guichet_common.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized

EXPECTED = (NotFound, Forbidden, Conflict, Invalid, Unauthorized)
