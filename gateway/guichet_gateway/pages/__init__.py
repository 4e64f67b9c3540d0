"""French pages. Each area has its own module with a blueprint, registered here."""
from __future__ import annotations

from flask import Flask


def register_pages(app: Flask) -> None:
    from .session import init_sessions

    init_sessions(app)
    # Each area's blueprint (pages/<area>.py) is registered below.
    from . import notifications
    notifications.register(app)  # notify: inbox, unread badge, live stream (SSE)
    from . import wallet
    wallet.register(app)  # wallet: porte-documents, justificatif review
    from . import backoffice, demarches
    demarches.register(app)  # demarches: home, catalogue, forms, "Mes demandes", tracking
    backoffice.register(app)  # demarches: the agents' back-office
    from . import account
    account.register(app)  # identity: inscription, connexion, mon compte, mes relations, associations
