"""Identity service entrypoints: accounts, sessions, profile, associations, keys."""
from __future__ import annotations

import logging
from typing import Any

from guichet_common.db import OUTBOX_FLUSH_S, UnitOfWork
from guichet_common.rpc import RpcProxy, rpc
from nameko.dependency_providers import Config
from nameko.timer import timer

from . import accounts, associations, keys
from .dependencies import IdentityStore, LocalVerifier
from .exceptions import EXPECTED, AccountBusy, ServiceDown

log = logging.getLogger(__name__)
# Services asked for their part of a personal-data export.
EXPORTING_SERVICES = ("demarches", "wallet", "notify")


class IdentityService:
    name = "identity"

    uow: UnitOfWork = IdentityStore()
    auth: LocalVerifier = LocalVerifier()
    config: dict[str, Any] = Config()
    demarches = RpcProxy("demarches")
    wallet = RpcProxy("wallet")
    notify = RpcProxy("notify")

    @property
    def base_url(self) -> str:
        return str(self.config["BASE_URL"])

    @rpc
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @rpc
    def jwks(self) -> dict[str, Any]:
        return keys.jwks(self.uow.session)

    # --- accounts and sessions ---------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def register(self, email: Any, password: Any, first_name: Any, last_name: Any) -> dict[str, str]:
        accounts.register(self.uow, self.base_url, email, password, first_name, last_name)
        return {"status": "pending"}

    @rpc(expected_exceptions=EXPECTED)
    def activate(self, token: Any) -> dict[str, Any]:
        return accounts.activate(self.uow, token)

    @rpc(expected_exceptions=EXPECTED)
    def login(self, email: Any, password: Any, client: str = "") -> dict[str, Any]:
        return accounts.login(self.uow, self.config, email, password, client)

    @rpc(expected_exceptions=EXPECTED)
    def login_franceconnect(self, claims: Any) -> dict[str, Any]:
        """Sign-in from FranceConnect claims already verified by the gateway's OIDC client."""
        return accounts.login_external(self.uow, self.config, "franceconnect", claims)

    @rpc(expected_exceptions=EXPECTED)
    def refresh(self, refresh_token: Any) -> dict[str, Any]:
        return accounts.refresh(self.uow, self.config, refresh_token)

    @rpc(expected_exceptions=EXPECTED)
    def logout(self, refresh_token: Any) -> None:
        accounts.logout(self.uow, refresh_token)

    @rpc(expected_exceptions=EXPECTED)
    def request_password_reset(self, email: Any) -> dict[str, str]:
        accounts.request_password_reset(self.uow, self.base_url, email)
        return {"status": "accepted"}

    @rpc(expected_exceptions=EXPECTED)
    def confirm_password_reset(self, token: Any, password: Any) -> None:
        accounts.confirm_password_reset(self.uow, self.base_url, token, password)

    @rpc(expected_exceptions=EXPECTED)
    def change_password(self, token: str, current_password: Any, new_password: Any) -> dict[str, Any]:
        caller = self.auth.verify(token)
        return accounts.change_password(self.uow, self.config, caller.id, current_password, new_password)

    @rpc(expected_exceptions=EXPECTED)
    def request_email_change(self, token: str, new_email: Any) -> dict[str, Any]:
        caller = self.auth.verify(token)
        return accounts.request_email_change(self.uow, self.base_url, caller.id, new_email)

    @rpc(expected_exceptions=EXPECTED)
    def confirm_email_change(self, token: Any) -> dict[str, Any]:
        return accounts.confirm_email_change(self.uow, token)

    # --- profile --------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def get_me(self, token: str) -> dict[str, Any]:
        caller = self.auth.verify(token)
        return accounts.account_view(accounts.active_account(self.uow, caller.id))

    @rpc(expected_exceptions=EXPECTED)
    def update_me(self, token: str, changes: Any) -> dict[str, Any]:
        caller = self.auth.verify(token)
        return accounts.update_me(self.uow, self.base_url, caller.id, changes)

    @rpc
    def profile(self, account_id: str) -> dict[str, Any] | None:
        """The /me view of an account, for other services pre-filling forms."""
        acc = self.uow.session.get(accounts.Account, account_id) if isinstance(account_id, str) else None
        if acc is None or acc.status != "active":
            return None
        return accounts.account_view(acc)

    @rpc
    def contact(self, account_id: str) -> dict[str, Any] | None:
        """Where and whether to write to an account: notify asks when it holds no copy yet
        (accounts older than its copy, or whose contact_changed has not arrived)."""
        acc = self.uow.session.get(accounts.Account, account_id) if isinstance(account_id, str) else None
        if acc is None or acc.status == "deleted":
            return None
        return accounts.contact_view(acc)

    @rpc(expected_exceptions=EXPECTED)
    def export_me(self, token: str) -> dict[str, Any]:
        """Every personal datum about the caller: identity's own, then each service's part."""
        caller = self.auth.verify(token)
        data: dict[str, Any] = {"identity": accounts.export_identity(self.uow, caller.id)}
        self.uow.session.rollback()  # no transaction held open while the others answer
        pending = {}
        for name in EXPORTING_SERVICES:
            try:
                pending[name] = getattr(self, name).export_personal_data.call_async(caller.id)
            except Exception:  # broker hiccup: reported in the export rather than hidden
                log.warning("export: could not ask %s", name, exc_info=True)
        for name in EXPORTING_SERVICES:
            try:
                data[name] = pending[name].result()
            except Exception as exc:
                log.warning("export: %s did not answer (%s)", name, type(exc).__name__)
                data[name] = {"erreur": "Ce service n'a pas pu fournir ses données ; réessayez plus tard."}
        return data

    @rpc(expected_exceptions=EXPECTED)
    def delete_me(self, token: str) -> None:
        """Refused while a demande is waiting or being handled; otherwise the account goes and
        every service purges or anonymises what it holds (event account_deleted)."""
        caller = self.auth.verify(token)
        accounts.active_account(self.uow, caller.id)
        try:
            busy = int(self.demarches.count_in_progress(caller.id))
        except Exception as exc:  # never delete on an unknown answer
            log.warning("delete_me: demarches did not answer (%s)", type(exc).__name__)
            raise ServiceDown("La suppression est momentanément impossible. Réessayez dans quelques instants.") from None
        if busy > 0:
            raise AccountBusy(
                f"Votre compte ne peut pas être supprimé : {busy} demande{'s' if busy > 1 else ''} "
                f"{'sont' if busy > 1 else 'est'} en attente ou en cours de traitement. Vous pourrez le supprimer "
                "quand elles seront terminées, ou annuler celles qui sont encore en attente.",
                in_progress=busy)
        accounts.delete_account(self.uow, caller.id)

    # --- associations ---------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def list_my_associations(self, token: str) -> list[dict[str, Any]]:
        caller = self.auth.verify(token)
        return associations.memberships_of(self.uow, caller.id)

    @rpc(expected_exceptions=EXPECTED)
    def leave_association(self, token: str, association_id: Any) -> None:
        caller = self.auth.verify(token)
        associations.leave(self.uow, caller, association_id)

    @rpc
    def association_role(self, account_id: Any, association_id: Any) -> str | None:
        return associations.role_of(self.uow, account_id, association_id)

    @rpc(expected_exceptions=EXPECTED)
    def create_association(self, token: str, name: Any, rna: Any) -> dict[str, Any]:
        return associations.create(self.uow, self.auth.verify(token), name, rna)

    @rpc(expected_exceptions=EXPECTED)
    def list_associations(self, token: str) -> list[dict[str, Any]]:
        return associations.list_all(self.uow, self.auth.verify(token))

    @rpc(expected_exceptions=EXPECTED)
    def get_association(self, token: str, association_id: Any) -> dict[str, Any]:
        return associations.get(self.uow, self.auth.verify(token), association_id)

    @rpc(expected_exceptions=EXPECTED)
    def list_members(self, token: str, association_id: Any) -> list[dict[str, Any]]:
        return associations.members(self.uow, self.auth.verify(token), association_id)

    @rpc(expected_exceptions=EXPECTED)
    def grant_member(self, token: str, association_id: Any, email: Any, role: Any, until: Any = None) -> dict[str, Any]:
        return associations.grant(self.uow, self.auth.verify(token), association_id, email, role, until)

    @rpc(expected_exceptions=EXPECTED)
    def revoke_member(self, token: str, association_id: Any, account_id: Any) -> None:
        associations.revoke(self.uow, self.auth.verify(token), association_id, account_id)

    # --- staff ------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def set_agent(self, token: str, email: Any, grant: bool = True) -> dict[str, Any]:
        associations.require_admin(self.auth.verify(token))
        return accounts.set_agent(self.uow, email, bool(grant))

    @rpc(expected_exceptions=EXPECTED)
    def list_staff(self, token: str) -> list[dict[str, Any]]:
        """Agents and administrators, for staff assigning a demande to a colleague."""
        associations.require_staff(self.auth.verify(token))
        return accounts.staff_list(self.uow)

    @rpc
    def staff_member(self, account_id: str) -> dict[str, Any] | None:
        """{id, name, email} if the account is an active agent or administrator (for démarches)."""
        return accounts.staff_member(self.uow, account_id)

    @rpc(expected_exceptions=EXPECTED)
    def rotate_signing_key(self, token: str) -> dict[str, str]:
        """A new signing key, published now and signing after KEY_ACTIVATION_DELAY; older keys stay
        published until their tokens have expired, so nobody is logged out."""
        associations.require_admin(self.auth.verify(token))
        return {"kid": keys.rotate(self.uow.session)}

    # --- timers -----------------------------------------------------------------------------
    @timer(interval=3600)
    def purge_expired_pending(self) -> None:
        accounts.purge_expired_pending(self.uow)
        # A retired key is dropped once every token it signed has expired.
        keys.prune(self.uow.session, accounts.key_delay(self.config), int(self.config.get("ACCESS_TOKEN_TTL", 900)))
        self.uow.session.commit()

    @timer(interval=OUTBOX_FLUSH_S)
    def flush_outbox(self) -> None:
        self.uow.flush_outbox()
