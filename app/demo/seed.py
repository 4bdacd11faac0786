"""Demo data for `make run`: organisations with well-known demo API keys, loaded once.

Demo keys are deterministic so `make run` can print them on every start; they exist only in
databases where `recyclate demo load` was run. Never load demo data into production.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import ApiKey
from app.auth.scopes import ALL_SCOPES
from app.auth.service import API_KEY_PREFIX, VISIBLE_CHARS, hash_secret
from app.demo.lots import DEMO_LOT_COUNT, load_demo_lots
from app.kit.db import utcnow
from app.orgs.models import Organization, OrgRole, VerificationStatus


@dataclass(frozen=True)
class DemoOrg:
    slug: str
    name: str
    role: OrgRole
    country: str

    @property
    def api_key(self) -> str:
        return f"{API_KEY_PREFIX}demo_{self.slug}"


DEMO_ORGS: tuple[DemoOrg, ...] = (
    DemoOrg("rhein_recycling", "Rhein Recycling GmbH", OrgRole.RECYCLER, "DE"),
    DemoOrg("elbe_kunststoff", "Elbe Kunststoffaufbereitung GmbH", OrgRole.RECYCLER, "DE"),
    DemoOrg("alpen_compounds", "Alpen Compounds AG", OrgRole.MANUFACTURER, "AT"),
    DemoOrg("ruhr_automotive", "Ruhr Automotive Parts GmbH", OrgRole.MANUFACTURER, "DE"),
    DemoOrg("nordsee_circular", "Nordsee Circular BV", OrgRole.BOTH, "NL"),
    # more sellers for a varied lot history (app/demo/lots.py SELLER_PROFILES)
    DemoOrg("donau_polymer", "Donau Polymer Recycling GmbH", OrgRole.RECYCLER, "DE"),
    DemoOrg("weser_rohstoff", "Weser Papier- und Rohstoffhandel GmbH", OrgRole.RECYCLER, "DE"),
    DemoOrg("saar_metall", "Saar Metallrecycling GmbH", OrgRole.RECYCLER, "DE"),
    DemoOrg("schwaben_pvc", "Schwaben PVC-Recycling GmbH", OrgRole.RECYCLER, "DE"),
    DemoOrg("wisla_recykling", "Wisla Recykling Sp. z o.o.", OrgRole.RECYCLER, "PL"),
    DemoOrg("vltava_recycling", "Vltava Recycling s.r.o.", OrgRole.RECYCLER, "CZ"),
    DemoOrg("alpi_riciclo", "Alpi Riciclo S.r.l.", OrgRole.RECYCLER, "IT"),
    DemoOrg("loire_recyclage", "Loire Recyclage SAS", OrgRole.RECYCLER, "FR"),
    DemoOrg("schelde_kunststof", "Schelde Kunststofrecycling NV", OrgRole.RECYCLER, "BE"),
    DemoOrg("inn_recycling", "Inn Recycling GmbH", OrgRole.RECYCLER, "AT"),
)


def load_demo_organisations(session: Session) -> dict[str, Organization]:
    """Create the demo organisations and keys if missing. Returns slug -> organisation."""
    out: dict[str, Organization] = {}
    for demo in DEMO_ORGS:
        digest = hash_secret(demo.api_key)
        key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == digest))
        if key is not None:
            org = session.get(Organization, key.organization_id)
            assert org is not None
            out[demo.slug] = org
            continue
        now = utcnow()
        org = Organization(
            name=demo.name,
            role=demo.role.value,
            country=demo.country,
            verification_status=VerificationStatus.VERIFIED.value,
            created_at=now,
            updated_at=now,
        )
        session.add(org)
        session.flush()
        session.add(
            ApiKey(
                organization_id=org.id,
                name="demo key",
                prefix=demo.api_key[: len(API_KEY_PREFIX) + VISIBLE_CHARS],
                secret_hash=digest,
                scopes=sorted(ALL_SCOPES),
                created_at=now,
            )
        )
        session.flush()
        out[demo.slug] = org
    return out


def load(session: Session, *, lots: int = DEMO_LOT_COUNT) -> dict[str, Organization]:
    """Load all demo data (idempotent): organisations and keys, then three years of lots."""
    orgs = load_demo_organisations(session)
    if lots > 0:
        load_demo_lots(session, {slug: org.id for slug, org in orgs.items()}, n=lots)
    return orgs
