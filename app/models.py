"""Import every domain's models so ``Base.metadata`` is complete (Alembic, tests)."""

from app.audit.models import AuditEvent
from app.auth.models import AccessToken, ApiKey, OAuthClient
from app.documents.models import Document
from app.forecasts.models import ForecastRun, ForecastValue, JobLease, SupplyHistory
from app.kit.db import Base
from app.kit.idempotency import IdempotencyRecord
from app.kit.ratelimit import RateLimitCounter
from app.lots.models import Lot
from app.orders.models import Order, Reservation
from app.orgs.models import Organization
from app.requirements.models import Requirement, RequirementEvent, RequirementHit

__all__ = [
    "AccessToken",
    "ApiKey",
    "AuditEvent",
    "Base",
    "Document",
    "ForecastRun",
    "ForecastValue",
    "IdempotencyRecord",
    "JobLease",
    "Lot",
    "OAuthClient",
    "Order",
    "Organization",
    "RateLimitCounter",
    "Requirement",
    "RequirementEvent",
    "RequirementHit",
    "Reservation",
    "SupplyHistory",
]
