"""Who a request acts for: the token it showed, that token's owner and role."""

from __future__ import annotations

from dataclasses import dataclass

from ferry.auth.roles import Role


@dataclass(frozen=True, slots=True)
class Quotas:
    """What one token may hold at once; None: no limit."""

    max_active_tasks: int | None
    max_tasks_per_hour: int | None
    max_disk_bytes: int | None


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str | None  # None only when the service runs with --no-auth
    name: str
    owner: str
    role: Role
    quotas: Quotas

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def may_see(self, owner: str | None) -> bool:
        """An admin sees every task; anyone else only their owner's."""
        return self.is_admin or (owner is not None and owner == self.owner)


NO_LIMITS = Quotas(None, None, None)

# What every request acts as when the service runs with --no-auth (loopback only).
LOCAL_ADMIN = Principal(
    token_id=None, name="no-auth", owner="local", role=Role.ADMIN, quotas=NO_LIMITS
)
