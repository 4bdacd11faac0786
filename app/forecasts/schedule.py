"""Scheduled retraining: due when the newest model is older than the retrain interval.
A job lease (one guarded UPDATE) makes sure a single process trains at a time."""

from __future__ import annotations

import datetime as dt
import os
import socket

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.forecasts.models import ForecastRun, JobLease
from app.kit.db import Database, utcnow
from app.lots.models import Lot

HOLDER = f"{socket.gethostname()}:{os.getpid()}"


def acquire(db: Database, name: str, ttl: dt.timedelta) -> bool:
    now = utcnow()
    with db.transaction(write=True) as s:
        got = s.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.leased_until < now)
            .values(holder=HOLDER, leased_until=now + ttl)
        )
        if getattr(got, "rowcount", 0) == 1:
            return True
        if s.get(JobLease, name) is not None:
            return False
    try:
        with db.transaction(write=True) as s:
            s.add(JobLease(name=name, holder=HOLDER, leased_until=now + ttl))
        return True
    except IntegrityError:
        return False


def release(db: Database, name: str) -> None:
    with db.transaction(write=True) as s:
        s.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.holder == HOLDER)
            .values(leased_until=utcnow() - dt.timedelta(seconds=1))
        )


def retrain_due(session: Session, freq: str, interval: dt.timedelta) -> bool:
    if not session.scalar(select(func.count()).select_from(Lot)):
        return False
    newest = session.scalar(
        select(func.max(ForecastRun.created_at)).where(ForecastRun.freq == freq)
    )
    return newest is None or utcnow() - newest >= interval
