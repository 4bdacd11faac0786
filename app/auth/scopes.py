"""The scope catalogue. Credentials carry a subset; endpoints require one scope each."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    ORG_READ = "org:read"
    ORG_WRITE = "org:write"
    KEYS_MANAGE = "keys:manage"
    LOTS_READ = "lots:read"
    LOTS_WRITE = "lots:write"
    REQUIREMENTS_READ = "requirements:read"
    REQUIREMENTS_WRITE = "requirements:write"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    FORECASTS_READ = "forecasts:read"
    WEBHOOKS_MANAGE = "webhooks:manage"
    FEEDS_READ = "feeds:read"


SCOPE_DESCRIPTIONS: dict[str, str] = {
    Scope.ORG_READ: "Read your organisation",
    Scope.ORG_WRITE: "Update your organisation",
    Scope.KEYS_MANAGE: "Create, list and revoke API keys and OAuth clients",
    Scope.LOTS_READ: "Read lots and grades",
    Scope.LOTS_WRITE: "Create, update and withdraw your lots",
    Scope.REQUIREMENTS_READ: "Read your requirements and matches",
    Scope.REQUIREMENTS_WRITE: "Create and change your requirements",
    Scope.ORDERS_READ: "Read your reservations and orders",
    Scope.ORDERS_WRITE: "Reserve, accept, ship and cancel",
    Scope.FORECASTS_READ: "Read availability forecasts",
    Scope.WEBHOOKS_MANAGE: "Manage webhook endpoints",
    Scope.FEEDS_READ: "Read change feeds and exports",
}

ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)
