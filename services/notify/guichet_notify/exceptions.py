"""Errors the notify service raises over RPC."""
from guichet_common.errors import Forbidden, Invalid, NotFound, Unauthorized


class NotificationNotFound(NotFound):
    default_detail = "Notification introuvable."


EXPECTED = (NotificationNotFound, Unauthorized, Forbidden, Invalid, NotFound)
