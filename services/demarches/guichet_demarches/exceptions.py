"""Errors the demarches service raises over RPC (mapped to HTTP by the gateway's table)."""
from guichet_common.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    UnsupportedMedia,
)


class DemarcheNotFound(NotFound):
    default_detail = "Démarche introuvable."


class DemandeNotFound(NotFound):
    default_detail = "Demande introuvable."


class DemarcheExists(Conflict):
    pass


class InvalidDefinition(Invalid):
    pass


class InvalidAnswers(Invalid):
    default_detail = "Certaines réponses sont invalides."


class NotAllowed(Forbidden):
    pass


class WrongStatus(Conflict):
    default_detail = "Cette opération n'est pas possible dans l'état actuel de la demande."


class BadInput(BadRequest):
    pass


EXPECTED = (DemarcheNotFound, DemandeNotFound, DemarcheExists, InvalidDefinition, InvalidAnswers, NotAllowed,
            WrongStatus, BadInput, NotFound, Forbidden, Conflict, Invalid, Unauthorized, BadRequest, Unavailable,
            PayloadTooLarge, UnsupportedMedia, TooManyRequests)
