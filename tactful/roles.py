"""What people may do: agents work the queue, managers also read policy and reports, admins manage users.

Kept free of database imports so the command line can offer the choices without loading storage.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A dashboard user's role; each includes everything the roles below it may do."""

    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for agents, 1 for managers, 2 for admins."""
        return _RANKS[self]

    def at_least(self, other: Role) -> bool:
        """Whether this role may do what `other` may."""
        return self.rank >= other.rank


_RANKS = {Role.AGENT: 0, Role.MANAGER: 1, Role.ADMIN: 2}

ROLE_NAMES: tuple[str, ...] = tuple(role.value for role in Role)


def parse_role(name: str) -> Role:
    """Return the role called `name` (case and blanks ignored); ValueError naming the roles otherwise."""
    try:
        return Role(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown role {name!r}; allowed: {', '.join(ROLE_NAMES)}") from None
