"""Errors the wallet service raises over RPC (mapped to HTTP by the gateway's table)."""
from guichet_common.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMedia,
)


class DocumentNotFound(NotFound):
    default_detail = "Document introuvable."


class JustificatifNotFound(NotFound):
    default_detail = "Justificatif introuvable."


class InvalidWalletData(Invalid):
    pass


class FileTooLarge(PayloadTooLarge):
    pass


class FormatRefused(UnsupportedMedia):
    pass


class QuotaExceeded(Conflict):
    pass


class WrongState(Conflict):
    pass


class StaffOnly(Forbidden):
    default_detail = "Cette action est réservée aux agents de la ville."


class StoreUnavailable(Unavailable):
    default_detail = ("Le stockage des documents est momentanément indisponible. "
                      "Réessayez dans quelques instants.")


EXPECTED = (DocumentNotFound, JustificatifNotFound, InvalidWalletData, FileTooLarge, FormatRefused, QuotaExceeded,
            WrongState, StaffOnly, StoreUnavailable, NotFound, Forbidden, Conflict, Invalid, Unauthorized,
            BadRequest, PayloadTooLarge, UnsupportedMedia, Unavailable)
