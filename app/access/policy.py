"""Roles and what each may do: the whole authorization policy, as data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # bureau admin: everything
    ANALYST = "analyst"  # bureau analyst: reads all, acts on incidents
    ZONE_OFFICER = "zone_officer"  # reads and acts on their zones' sections only
    OPERATIONS = "operations"  # stations, QC, mutes, dead letters
    VIEWER = "viewer"  # reads
    RIVER_CHIEF = "river_chief"  # reads the sections their contact is assigned to


class Perm(StrEnum):
    CATALOGUE_READ = "catalogue.read"  # sections, zones, parameters, classes
    STATIONS_READ = "stations.read"  # stations and their series
    INCIDENTS_READ = "incidents.read"
    INCIDENTS_ACT = "incidents.act"  # acknowledge, resolve
    NOTIFICATIONS_READ = "notifications.read"
    DEAD_LETTERS = "dead_letters.manage"
    CONTACTS_READ = "contacts.read"  # contacts and section routes
    CONTACTS_MANAGE = "contacts.manage"  # contacts, webhooks, assignments, escalation
    MUTES_READ = "mutes.read"
    MUTES_MANAGE = "mutes.manage"
    RULES_READ = "rules.read"
    RULES_MANAGE = "rules.manage"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    OWN_TOKENS = "tokens.own"  # one's own API tokens
    LOGGERS_COMMAND = "loggers.command"  # HJ 212 commands to a station's logger
    TOPOLOGY_READ = "topology.read"  # which stations are upstream of a section
    TOPOLOGY_MANAGE = "topology.manage"


_READER = {Perm.CATALOGUE_READ, Perm.STATIONS_READ, Perm.INCIDENTS_READ, Perm.OWN_TOKENS}

PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.ANALYST: frozenset(
        _READER
        | {
            Perm.INCIDENTS_ACT,
            Perm.NOTIFICATIONS_READ,
            Perm.CONTACTS_READ,
            Perm.MUTES_READ,
            Perm.RULES_READ,
            Perm.TOPOLOGY_READ,
        }
    ),
    Role.ZONE_OFFICER: frozenset(
        _READER
        | {
            Perm.INCIDENTS_ACT,
            Perm.NOTIFICATIONS_READ,
            Perm.CONTACTS_READ,
            Perm.MUTES_READ,
            Perm.TOPOLOGY_READ,
        }
    ),
    Role.OPERATIONS: frozenset(
        _READER
        | {
            Perm.NOTIFICATIONS_READ,
            Perm.DEAD_LETTERS,
            Perm.CONTACTS_READ,
            Perm.MUTES_READ,
            Perm.MUTES_MANAGE,
            Perm.RULES_READ,
            Perm.LOGGERS_COMMAND,
            Perm.TOPOLOGY_READ,
            Perm.TOPOLOGY_MANAGE,
        }
    ),
    Role.VIEWER: frozenset(_READER),
    Role.RIVER_CHIEF: frozenset(_READER),
}

# Roles whose reach is a set of sections rather than the whole plan.
SCOPED_ROLES = frozenset({Role.ZONE_OFFICER, Role.RIVER_CHIEF})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (by token or session), the bootstrap admin, or nobody."""

    username: str
    role: Role | None  # None: anonymous
    via: str  # token, session, admin-token, open, anonymous
    user_id: int | None = None
    # None: every section; otherwise the ids of the sections within reach.
    section_ids: frozenset[int] | None = None
    zone_ids: frozenset[int] = frozenset()

    @property
    def authenticated(self) -> bool:
        return self.role is not None

    def can(self, perm: Perm) -> bool:
        return self.role is not None and perm in PERMISSIONS[self.role]

    def sees(self, section_id: int | None) -> bool:
        """Whether a section is in reach; objects without a section only for unscoped callers."""
        if self.section_ids is None:
            return True
        return section_id is not None and section_id in self.section_ids


ANONYMOUS = Principal(username="anonymous", role=None, via="anonymous", section_ids=frozenset())
