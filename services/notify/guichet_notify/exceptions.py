"""Errors the notify service raises over RPC."""
from guichet_common.errors import Invalid, NotFound, Unauthorized


class NotificationNotFound(NotFound):
    default_detail = "Notification introuvable."


EXPECTED = (NotificationNotFound, Unauthorized, Invalid, NotFound)
