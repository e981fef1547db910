"""Roles, ordered: each one may do what the ones below it may. Pure."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    READ = "read"  # see tasks and take their archives
    WRITE = "write"  # create and control tasks (later: upload packages and models)
    ADMIN = "admin"  # tokens, everyone's tasks, the audit log

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.READ: 0, Role.WRITE: 1, Role.ADMIN: 2}
