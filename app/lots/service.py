"""Lot rules: create, update, withdraw, list. Never commits; never imports a router."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

from sqlalchemy import ColumnElement, Select, String, Table, bindparam, select, type_coerce
from sqlalchemy.orm import Session

from app.audit.service import record
from app.auth.service import Principal
from app.documents.models import Document
from app.geo import GeoError, resolve_location
from app.grades import assess
from app.grades.plausibility import measurement_value, quantity_warning, viscosity_quantity
from app.kit.db import RawConnection, utcnow
from app.kit.pagecache import SnapshotCache
from app.kit.pagination import (
    SortKey,
    after_clause,
    after_values,
    cut_page,
    decode_cursor,
    keyset_page,
    paginate,
)
from app.kit.problems import ProblemError, not_found
from app.kit.rawquery import CompiledQueries, snapshot_token
from app.lots import codes
from app.lots.models import Lot, LotStatus
from app.lots.schemas import LotCreate, LotUpdate, Money
from app.lots.summary import ItemCache, ItemChangedError, render_item, stored_datetime
from app.matching.facts import encode_match_facts, grade_facts
from app.matching.scoring import Measurement
from app.matching.service import on_lots_changed

# --- scoped statements ------------------------------------------------------------------------


def visible_lots() -> Select[Lot]:
    """Lots any organisation may read (public view)."""
    return select(Lot)


def lots_of(organization_id: str) -> Select[Lot]:
    """The owner's lots: the one scoped statement owner-only queries start from."""
    return select(Lot).where(Lot.organization_id == organization_id)


# Plain rows (lists): the same two scopes on the Core table, free of ORM machinery.
LOTS = cast(Table, Lot.__table__)
SelectT = TypeVar("SelectT", bound=Select[Any])


def visible_lot_rows(*columns: ColumnElement[Any]) -> Select[Any]:
    return cast("Select[Any]", select(*columns).select_from(LOTS))


def lot_rows_of(*columns: ColumnElement[Any]) -> Select[Any]:
    """The owner's lots as rows; the organisation is the bound parameter ``org``."""
    return visible_lot_rows(*columns).where(LOTS.c.organization_id == bindparam("org"))


def get_visible_lot(session: Session, lot_id: str) -> Lot:
    lot = session.scalar(visible_lots().where(Lot.id == lot_id))
    if lot is None:
        raise not_found("Lot")
    return lot


def get_own_lot(session: Session, principal: Principal, lot_id: str) -> Lot:
    lot = session.scalar(lots_of(principal.organization_id).where(Lot.id == lot_id))
    if lot is None:
        raise not_found("Lot")
    return lot


# --- derived columns --------------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    polymer: str | None
    form: str | None
    color: str | None
    source: str | None
    mfr_g_10min: float | None
    mfr_temperature_c: float | None
    mfr_load_kg: float | None
    density_g_cm3: float | None
    ash_pct: float | None
    moisture_pct: float | None
    mfr_sd: float | None
    density_sd: float | None
    ash_sd: float | None
    moisture_sd: float | None


def _text(attrs: Mapping[str, Any], key: str, valid: set[str]) -> str | None:
    if key not in valid:
        return None
    value = attrs.get(key)
    if isinstance(value, Mapping):
        value = value.get("value")
    return str(value)[:32] if isinstance(value, str) else None


def _measure(attrs: Mapping[str, Any], key: str, dim: str, valid: set[str]) -> float | None:
    m = attrs.get(key)
    if key not in valid or not isinstance(m, Mapping):
        return None
    return measurement_value(m, dim)


def derive_columns(
    attributes: Mapping[str, Any],
    valid_fields: Iterable[str],
    measurements: Mapping[str, Measurement],
) -> Derived:
    """Denormalise the filterable values of a grade (only fields the classifier found valid);
    ``measurements`` are matching's canonical ones (``app.matching.facts.grade_facts``)."""
    valid = set(valid_fields)
    mfr = t = load = None
    visc = attributes.get("Viscosity")
    if "Viscosity" in valid and isinstance(visc, Mapping) and viscosity_quantity(visc) == "MFR":
        mfr = measurement_value(visc, "mass_flow_rate")
        cond = visc.get("conditions") or {}
        if isinstance(cond, Mapping):
            t = _num(cond.get("temperature_c"))
            load = _num(cond.get("load_kg"))
    return Derived(
        polymer=_text(attributes, "MainMaterialType", valid),
        form=_text(attributes, "Form", valid),
        color=_text(attributes, "ColorByVisualInspection", valid),
        source=_text(attributes, "Source", valid),
        mfr_g_10min=mfr,
        mfr_temperature_c=t,
        mfr_load_kg=load,
        density_g_cm3=_measure(attributes, "Density", "density", valid),
        ash_pct=_measure(attributes, "AshContent", "mass_fraction", valid),
        moisture_pct=_measure(attributes, "ResidualHumidity", "mass_fraction", valid),
        **derive_sds(measurements),
    )


# (column, property) of the denormalised standard deviations; the Viscosity one only for MFR.
SD_COLUMNS: Final = (
    ("mfr_sd", "Viscosity"),
    ("density_sd", "Density"),
    ("ash_sd", "AshContent"),
    ("moisture_sd", "ResidualHumidity"),
)


def derive_sds(ms: Mapping[str, Measurement]) -> dict[str, Any]:
    """The standard deviations of matching's canonical measurements, in the canonical units
    of the value columns."""
    out: dict[str, float | None] = {}
    for column, prop in SD_COLUMNS:
        m = ms.get(prop)
        ok = m is not None and (prop != "Viscosity" or m.quantity == "MFR")
        out[column] = m.sd if ok and m is not None else None
    return out


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# --- helpers ----------------------------------------------------------------------------------


def _evidence_ids(body_grade: Mapping[str, Any], certifications: Sequence[Any]) -> dict[str, str]:
    """Document ids referenced by measurements and certifications -> JSON pointer."""
    refs: dict[str, str] = {}
    attrs = body_grade.get("attributes") or {}
    for key, value in attrs.items():
        if isinstance(value, Mapping) and isinstance(value.get("evidence_id"), str):
            refs[value["evidence_id"]] = f"/grade/attributes/{key}/evidence_id"
    for i, cert in enumerate(certifications):
        doc = getattr(cert, "document_id", None)
        if doc:
            refs[doc] = f"/certifications/{i}/document_id"
    return refs


def _check_evidence(session: Session, organization_id: str, refs: Mapping[str, str]) -> None:
    if not refs:
        return
    found = set(
        session.scalars(
            select(Document.id).where(
                Document.organization_id == organization_id, Document.id.in_(list(refs))
            )
        )
    )
    missing = [(doc, ptr) for doc, ptr in refs.items() if doc not in found]
    if missing:
        raise ProblemError(
            422,
            "validation_failed",
            "Evidence document not found: upload it first with POST /v1/documents.",
            errors=[
                {"pointer": ptr, "code": "unknown_document", "detail": f"no document {doc}"}
                for doc, ptr in missing
            ],
        )


def _location(body: Any) -> Any:
    try:
        return resolve_location(
            body.country, postcode=body.postcode, lat=body.latitude, lon=body.longitude
        )
    except GeoError as exc:
        field = {"lat": "latitude", "lon": "longitude"}.get(exc.field or "", exc.field or "")
        raise ProblemError(
            422,
            "validation_failed",
            exc.detail,
            errors=[{"pointer": f"/location/{field}", "code": exc.code, "detail": exc.detail}],
        ) from None


def _money(m: Money | None) -> tuple[int | None, str | None]:
    return (m.minor, m.currency) if m is not None else (None, None)


def _seller_history(session: Session, organization_id: str) -> list[float]:
    return list(
        session.scalars(
            lots_of(organization_id)
            .with_only_columns(Lot.quantity_kg)
            .order_by(Lot.id.desc())
            .limit(50)
        )
    )


def _consistency_warnings(lot: Lot) -> list[dict[str, Any]]:
    try:
        found = codes.check_consistency(
            lot.family,
            form=lot.form,
            status=lot.end_of_waste_status,
            waste_code=lot.waste_code,
            basel_code=lot.basel_code,
            hs_code=lot.hs_code,
            eow_regulation=lot.end_of_waste_regulation,
        )
    except codes.CodeError:
        return []
    return [{"code": w.code, "field": f"legal.{w.field}", "detail": w.detail} for w in found]


def _apply_grade(lot: Lot, grade: Any) -> None:
    a = assess(
        grade.attributes,
        family=grade.family,
        scheme=grade.scheme,
        edition=grade.edition,
        claimed_level=grade.claimed_dql,
    )
    assessment = a.as_dict()
    facts = grade_facts(grade.attributes, a.valid_fields)  # parsed once for both below
    d = derive_columns(grade.attributes, a.valid_fields, facts[2])
    lot.grade = grade.model_dump(mode="json")
    lot.assessment = assessment
    lot.dql = a.level
    lot.quality_scheme = f"{a.scheme} {a.edition}".strip()
    lot.claimed_dql = grade.claimed_dql
    for field in Derived.__dataclass_fields__:
        setattr(lot, field, getattr(d, field))
    lot.match_facts = encode_match_facts(*facts)


def _apply_location(lot: Lot, body: Any) -> None:
    loc = _location(body)
    lot.country = loc.country
    lot.postcode = loc.postcode
    lot.latitude = loc.lat
    lot.longitude = loc.lon
    lot.region_code = loc.region_code
    lot.location_approximate = loc.approximate


def _apply_legal(lot: Lot, legal: Any) -> None:
    lot.waste_code = legal.waste_code
    lot.waste_hazardous = legal.waste_code.endswith("*") if legal.waste_code else None
    lot.basel_code = legal.basel_code
    lot.hs_code = legal.hs_code
    lot.end_of_waste_status = legal.end_of_waste_status
    lot.end_of_waste_regulation = (
        codes.normalise_eow_regulation(legal.end_of_waste_regulation)
        or legal.end_of_waste_regulation
        if legal.end_of_waste_regulation
        else None
    )


def _apply_supply(lot: Lot, supply: Any) -> None:
    lot.supply_type = supply.type
    lot.recurrence = (
        {
            "frequency": supply.frequency,
            "quantity_per_delivery_kg": supply.quantity_per_delivery.kg,
            "start": supply.start.isoformat() if supply.start else None,
            "end": supply.end.isoformat() if supply.end else None,
        }
        if supply.type == "recurring"
        else None
    )


def _warnings(session: Session, lot: Lot, *, exclude_self: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"code": w["code"], "field": w.get("field"), "detail": w["detail"]}
        for w in lot.assessment.get("warnings", [])
    ]
    out.extend(_consistency_warnings(lot))
    history = _seller_history(session, lot.organization_id)
    if exclude_self and history:
        history = history[1:]
    qw = quantity_warning(lot.quantity_kg, history)
    if qw is not None:
        out.append({"code": qw.code, "field": "quantity", "detail": qw.detail})
    return out


# --- commands ---------------------------------------------------------------------------------


def _require_seller(principal: Principal) -> None:
    if not principal.sells:
        raise ProblemError(
            403, "forbidden", "Only recyclers (role recycler or both) can post lots."
        )


def build_lot(session: Session, principal: Principal, body: LotCreate, *, now: dt.datetime) -> Lot:
    lot = Lot(
        organization_id=principal.organization_id,
        status=LotStatus.ACTIVE.value,
        title=body.title,
        description=body.description,
        family=body.family,
        quantity_kg=body.quantity.kg,
        available_kg=body.quantity.kg,
        quantity_unit=body.quantity.unit,
        internal_notes=body.internal_notes,
        certifications=[c.model_dump(mode="json") for c in body.certifications],
        available_from=body.available_from,
        posted_at=now,
        created_at=now,
        updated_at=now,
        version=1,
    )
    _apply_grade(lot, body.grade)
    _apply_location(lot, body.location)
    _apply_legal(lot, body.legal)
    _apply_supply(lot, body.supply)
    lot.price_per_t_minor, lot.currency = _money(body.asking_price)
    lot.price_floor_per_t_minor, floor_ccy = _money(body.price_floor)
    if floor_ccy and not lot.currency:
        lot.currency = floor_ccy
    return lot


def create_lot(session: Session, principal: Principal, body: LotCreate) -> Lot:
    _require_seller(principal)
    _check_evidence(
        session,
        principal.organization_id,
        _evidence_ids(body.grade.model_dump(), body.certifications),
    )
    lot = build_lot(session, principal, body, now=utcnow())
    lot.warnings = _warnings(session, lot, exclude_self=False)
    session.add(lot)
    session.flush()
    _audit(session, principal, lot, "lot.created", None)
    on_lots_changed(session, [lot])
    return lot


def create_lots_bulk(
    session: Session, principal: Principal, bodies: Sequence[LotCreate]
) -> list[Lot]:
    """All or nothing: any invalid lot rejects the batch (errors point at /lots/<i>/...)."""
    _require_seller(principal)
    refs: dict[str, str] = {}
    for i, body in enumerate(bodies):
        for doc, ptr in _evidence_ids(body.grade.model_dump(), body.certifications).items():
            refs[doc] = f"/lots/{i}{ptr}"
    _check_evidence(session, principal.organization_id, refs)
    now = utcnow()
    lots: list[Lot] = []
    for i, body in enumerate(bodies):
        try:
            lot = build_lot(session, principal, body, now=now)
        except ProblemError as exc:
            if exc.errors:
                exc.errors = [
                    {**e, "pointer": f"/lots/{i}{e['pointer']}"}
                    if e.get("pointer") is not None
                    else e
                    for e in exc.errors
                ]
            raise
        lot.warnings = [
            {"code": w["code"], "field": w.get("field"), "detail": w["detail"]}
            for w in lot.assessment.get("warnings", [])
        ] + _consistency_warnings(lot)
        lots.append(lot)
    session.add_all(lots)
    session.flush()
    for lot in lots:
        _audit(session, principal, lot, "lot.created", None)
    on_lots_changed(session, lots)
    return lots


def _snapshot(lot: Lot) -> dict[str, Any]:
    return {
        "status": lot.status,
        "title": lot.title,
        "dql": lot.dql,
        "quantity_kg": lot.quantity_kg,
        "available_kg": lot.available_kg,
        "price_per_t_minor": lot.price_per_t_minor,
        "currency": lot.currency,
        "version": lot.version,
    }


def _audit(
    session: Session, actor: Principal | None, lot: Lot, action: str, before: dict[str, Any] | None
) -> None:
    record(
        session,
        actor=actor,
        entity_type="lot",
        entity_id=lot.id,
        action=action,
        lot_id=lot.id,
        seller_org_id=lot.organization_id,
        before=before,
        after=_snapshot(lot),
    )


def update_lot(session: Session, lot: Lot, body: LotUpdate, actor: Principal | None = None) -> Lot:
    before = _snapshot(lot)
    if lot.status == LotStatus.WITHDRAWN:
        raise ProblemError(409, "conflict", "A withdrawn lot cannot be changed.")
    data = body.model_fields_set
    if "grade" in data and body.grade is not None:
        if body.grade.family != lot.family:
            raise ProblemError(
                422,
                "validation_failed",
                "The family of a lot cannot change; withdraw it and post a new lot.",
                errors=[
                    {
                        "pointer": "/grade/family",
                        "code": "family_mismatch",
                        "detail": f"lot family is {lot.family}",
                    }
                ],
            )
        _check_evidence(session, lot.organization_id, _evidence_ids(body.grade.model_dump(), []))
        _apply_grade(lot, body.grade)
    if "title" in data and body.title is not None:
        lot.title = body.title
    if "description" in data:
        lot.description = body.description
    if "internal_notes" in data:
        lot.internal_notes = body.internal_notes
    if "available_from" in data:
        lot.available_from = body.available_from
    if "quantity" in data and body.quantity is not None:
        committed = lot.quantity_kg - lot.available_kg
        new_total = body.quantity.kg
        if new_total < committed:
            raise ProblemError(
                409,
                "insufficient_quantity",
                f"{committed:g} kg are already reserved or ordered; quantity cannot go below that.",
                title="Quantity below committed",
            )
        lot.quantity_kg = new_total
        lot.available_kg = new_total - committed
        lot.quantity_unit = body.quantity.unit
        lot.status = LotStatus.ACTIVE.value if lot.available_kg > 0 else LotStatus.SOLD_OUT.value
    if "supply" in data and body.supply is not None:
        _apply_supply(lot, body.supply)
    if "location" in data and body.location is not None:
        _apply_location(lot, body.location)
    if "legal" in data and body.legal is not None:
        _apply_legal(lot, body.legal)
    if "asking_price" in data:
        lot.price_per_t_minor, ccy = _money(body.asking_price)
        lot.currency = ccy or lot.currency
    if "price_floor" in data:
        lot.price_floor_per_t_minor, ccy = _money(body.price_floor)
        lot.currency = lot.currency or ccy
    if "certifications" in data and body.certifications is not None:
        _check_evidence(session, lot.organization_id, _evidence_ids({}, body.certifications))
        lot.certifications = [c.model_dump(mode="json") for c in body.certifications]
    lot.updated_at = utcnow()
    lot.warnings = _warnings(session, lot, exclude_self=True)
    session.flush()
    _audit(session, actor, lot, "lot.updated", before)
    on_lots_changed(session, [lot])
    return lot


def withdraw_lot(session: Session, lot: Lot, actor: Principal | None = None) -> Lot:
    """Withdraw: the lot is no longer offered. Pending reservations stay until the seller
    decides or they expire (their quantity then returns to a withdrawn lot, harmlessly)."""
    if lot.status != LotStatus.WITHDRAWN:
        before = _snapshot(lot)
        now = utcnow()
        lot.status = LotStatus.WITHDRAWN.value
        lot.withdrawn_at = now
        lot.updated_at = now
        session.flush()
        _audit(session, actor, lot, "lot.withdrawn", before)
    return lot


# --- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotFilters:
    family: str | None = None
    polymer: str | None = None
    form: str | None = None
    color: str | None = None
    source: str | None = None
    min_dql: int | None = None
    country: str | None = None
    region: str | None = None
    min_available_kg: float | None = None
    supply_type: str | None = None
    updated_since: dt.datetime | None = None
    mfr_min: float | None = None
    mfr_max: float | None = None
    mfr_temperature_c: float | None = None
    mfr_load_kg: float | None = None
    density_min: float | None = None
    density_max: float | None = None
    ash_max: float | None = None
    moisture_max: float | None = None
    status: str | None = LotStatus.ACTIVE.value
    mine: bool = False


SORTS: dict[str, SortKey] = {
    "newest": SortKey("newest", (LOTS.c.id,), descending=True),
    "oldest": SortKey("oldest", (LOTS.c.id,), descending=False),
    "available_desc": SortKey("available_desc", (LOTS.c.available_kg, LOTS.c.id), descending=True),
    "dql_desc": SortKey("dql_desc", (LOTS.c.dql, LOTS.c.id), descending=True),
    "updated": SortKey("updated", (LOTS.c.updated_at, LOTS.c.id), descending=False),
}


def _like(col: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return col.like(value)


_EQ, _GE, _LE = operator.eq, operator.ge, operator.le
# (LotFilters field = parameter name, column, comparison): each filter is a bound parameter, so the
# set of parameter names present is the query's shape (app/kit/rawquery.py).
_FILTERS: tuple[tuple[str, ColumnElement[Any], Callable[..., Any]], ...] = (
    ("status", LOTS.c.status, _EQ),
    *(
        (n, LOTS.c[n], _EQ)
        for n in ("family", "polymer", "form", "color", "source", "country", "supply_type")
    ),
    *((n, LOTS.c[n], _EQ) for n in ("mfr_temperature_c", "mfr_load_kg")),
    ("min_dql", LOTS.c.dql, _GE),
    ("region", LOTS.c.region_code, _like),
    ("min_available_kg", LOTS.c.available_kg, _GE),
    ("updated_since", LOTS.c.updated_at, _GE),
    ("mfr_min", LOTS.c.mfr_g_10min, _GE),
    ("mfr_max", LOTS.c.mfr_g_10min, _LE),
    ("density_min", LOTS.c.density_g_cm3, _GE),
    ("density_max", LOTS.c.density_g_cm3, _LE),
    ("ash_max", LOTS.c.ash_pct, _LE),
    ("moisture_max", LOTS.c.moisture_pct, _LE),
)


def filter_params(f: LotFilters) -> dict[str, Any]:
    """The bound values of the list filters that are set."""
    params: dict[str, Any] = {}
    for name, _col, _op in _FILTERS:
        value = getattr(f, name)
        if value is not None and value != "":
            params[name] = value
    if "region" in params:
        # validated as [A-Z0-9] by the API: no LIKE wildcards can come from the client
        params["region"] = f"{params['region']}%"
    return params


def filter_conditions(names: Iterable[str]) -> list[ColumnElement[bool]]:
    """The conditions for the filter parameters ``names`` (in a fixed order)."""
    present = set(names)
    return [op(col, bindparam(name)) for name, col, op in _FILTERS if name in present]


def filtered(stmt: SelectT, f: LotFilters) -> SelectT:
    """``stmt`` (entities or rows of lots) narrowed by the list filters."""
    params = filter_params(f)
    return stmt.where(*filter_conditions(params)).params(params) if params else stmt


def list_lots(
    session: Session,
    principal: Principal,
    f: LotFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Lot], str | None]:
    """A page of full lots (``view=full``)."""
    base = lots_of(principal.organization_id) if f.mine else visible_lots()
    return paginate(session, filtered(base, f), SORTS[sort], cursor=cursor, limit=limit)


# A list item: the stored JSON plus the columns spliced into it and the sort keys.
_ITEM_COLUMNS = (
    LOTS.c.id,
    LOTS.c.available_kg,
    LOTS.c.dql,
    type_coerce(LOTS.c.updated_at, String).label("updated_at"),  # as stored: see render_item
    LOTS.c.status,
    LOTS.c.version,
    LOTS.c.summary,
)
# A page's rows for the item cache, per order: the cache key (id, version) and the sort key of
# the next cursor, nothing else (ItemCache: most items are rendered already; the volatile
# fields of the others come with their stored part). Two columns instead of six for the
# default order: 48 against 122-133 us of client CPU per 51-row page on PostgreSQL.
_ID, _VERSION = LOTS.c.id, LOTS.c.version
_PAGE_COLUMNS: dict[str, tuple[Any, ...]] = {
    "newest": (_ID, _VERSION),
    "oldest": (_ID, _VERSION),
    "available_desc": (_ID, _VERSION, LOTS.c.available_kg),
    "dql_desc": (_ID, _VERSION, LOTS.c.dql),
    "updated": (_ID, _VERSION, _ITEM_COLUMNS[3]),
}
_PAGE_KEYS: dict[str, Callable[[Any], Sequence[Any]]] = {
    "newest": lambda r: (r[0],),
    "oldest": lambda r: (r[0],),
    "available_desc": lambda r: (r[2], r[0]),
    "dql_desc": lambda r: (r[2], r[0]),
    "updated": lambda r: (stored_datetime(r[2]), r[0]),
}
# The sort key of an item row, per order (for the next cursor).
_ITEM_KEYS: dict[str, Callable[[Any], Sequence[Any]]] = {
    "newest": lambda r: (r[0],),
    "oldest": lambda r: (r[0],),
    "available_desc": lambda r: (r[1], r[0]),
    "dql_desc": lambda r: (r[2], r[0]),
    "updated": lambda r: (stored_datetime(r[3]), r[0]),
}


_PAGES = CompiledQueries()


def _stored_parts(conn: RawConnection, ids: list[str]) -> dict[str, Sequence[Any]]:
    """{id: (version, stored part, status, available_kg, updated_at)} of these lots. The id
    list is padded to a power of two (repeating its first id), so that few statement shapes
    are compiled."""
    size = 1 << (len(ids) - 1).bit_length()
    params = {f"id{i}": ids[i] if i < len(ids) else ids[0] for i in range(size)}

    def build() -> Select[Any]:
        return select(
            LOTS.c.id,
            LOTS.c.version,
            LOTS.c.summary,
            LOTS.c.status,
            LOTS.c.available_kg,
            _ITEM_COLUMNS[3],  # updated_at as stored
        ).where(LOTS.c.id.in_([bindparam(f"id{i}") for i in range(size)]))

    rows = _PAGES.rows(conn, ("stored", size), build, params)
    return {r[0]: r[1:] for r in rows}


def list_lot_items(
    conn: RawConnection,
    principal: Principal,
    f: LotFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
    cache: ItemCache | None = None,
    pages: SnapshotCache[tuple[list[bytes], str | None]] | None = None,
) -> tuple[list[bytes], str | None]:
    """A page of list items as JSON: one narrow query, compiled once per shape and run on the
    session's connection (app/kit/rawquery.py), and the stored items (app/lots/summary.py).
    With ``cache``, the page query leaves out the stored part and items come from the cache,
    rendered for (id, version); the stored part of the others is read by id. If a lot changed
    between the two statements (another snapshot), the page is read again in one statement."""
    order = SORTS[sort]
    params = filter_params(f)
    names = tuple(params)
    if f.mine:
        params["org"] = principal.organization_id
    if cursor:
        params.update(after_values(decode_cursor(order, cursor)))
    params["page_limit"] = limit + 1

    def page_rows(columns: tuple[Any, ...]) -> list[Any]:
        def build() -> Select[Any]:  # only for a shape not seen before
            stmt = lot_rows_of(*columns) if f.mine else visible_lot_rows(*columns)
            after = after_clause(order) if cursor else None
            stmt = stmt.where(*filter_conditions(names))
            return keyset_page(stmt, order, after=after, limit=bindparam("page_limit"))

        shape = (sort, f.mine, bool(cursor), names, len(columns))
        return list(_PAGES.rows(conn, shape, build, params))

    if pages is not None and pages.wanted():
        # PostgreSQL: the page as computed earlier by this worker, if the database has not
        # changed since (app/kit/pagecache.py); else computed now and kept under the snapshot
        # read before its statements
        snapshot = snapshot_token(conn)
        if snapshot is not None:
            key = (sort, f.mine, bool(cursor), tuple(params.items()))
            kept = pages.get(key, snapshot)
            if kept is not None:
                return kept
            result = list_lot_items(
                conn, principal, f, sort=sort, cursor=cursor, limit=limit, cache=cache
            )
            pages.put(key, snapshot, result)
            return result

    if cache is not None:
        page, next_cursor = cut_page(page_rows(_PAGE_COLUMNS[sort]), order, limit, _PAGE_KEYS[sort])
        try:
            return cache.items(page, lambda ids: _stored_parts(conn, ids)), next_cursor
        except ItemChangedError:
            pass
    page, next_cursor = cut_page(page_rows(_ITEM_COLUMNS), order, limit, _ITEM_KEYS[sort])
    return [render_item(r[6], r[4], r[1], r[3], r[5]) for r in page], next_cursor
