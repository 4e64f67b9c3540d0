"""Errors the identity service raises over RPC (mapped to HTTP by the gateway's table)."""
from guichet_common.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized, Unavailable


class InvalidAccountData(Invalid):
    pass


class InvalidToken(BadRequest):
    default_detail = "Ce lien n'est pas valide ou a expiré."


class BadCredentials(Unauthorized):
    default_detail = "Adresse électronique ou mot de passe incorrect."


class LoginThrottled(TooManyRequests):
    pass


class AccountNotFound(NotFound):
    default_detail = "Compte introuvable."


class NotAllowed(Forbidden):
    pass


class AccountBusy(Conflict):
    pass


class AssociationNotFound(NotFound):
    default_detail = "Association introuvable."


class RnaTaken(Conflict):
    pass


class ServiceDown(Unavailable):
    pass


EXPECTED = (InvalidAccountData, InvalidToken, BadCredentials, LoginThrottled, AccountNotFound,
            NotAllowed, AccountBusy, AssociationNotFound, RnaTaken, ServiceDown, Unauthorized, Forbidden,
            NotFound, Invalid, Conflict, BadRequest, TooManyRequests, Unavailable)
