"""The demarches service's DependencyProviders."""
from __future__ import annotations

from guichet_common.db import Store

from .models import Outbox


def DemarchesStore() -> Store:
    return Store(outbox_model=Outbox)
