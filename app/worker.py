"""Background jobs: reservation expiry (and later scheduled retraining).

Embedded setup: a daemon thread inside each API process (``background_jobs=auto`` on SQLite).
Production: ``recyclate worker`` processes. Running several at once is safe: each expiry is a
guarded state transition, so a reservation expires and returns its quantity exactly once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import structlog

from app.kit.db import Database
from app.kit.idempotency import purge_expired
from app.orders.service import expire_one, find_due
from app.settings import Settings

log = structlog.get_logger("app.worker")


def expire_once(db: Database, *, batch: int = 200) -> int:
    """Expire every due reservation, one short transaction each (no lock is held across
    reservations). Returns how many this process expired."""
    total = 0
    while True:
        with db.transaction(write=False) as session:
            due = find_due(session, limit=batch)
        for res_id in due:
            with db.transaction(write=True) as session:
                total += expire_one(session, res_id)
        if len(due) < batch:
            return total


def retrain_if_due(db: Database, settings: Settings) -> bool:
    """Train a new forecast model when the newest is older than the retrain interval, in at
    most one process at a time (job lease). Returns True when this process trained."""
    from app.forecasts import schedule
    from app.forecasts.training import train

    interval = dt.timedelta(hours=settings.retrain_interval_hours)
    with db.transaction(write=False) as session:
        if not schedule.retrain_due(session, settings.forecast_freq, interval):
            return False
    if not schedule.acquire(db, "forecast_retrain", dt.timedelta(hours=2)):
        return False
    try:
        run = train(
            db,
            freq=settings.forecast_freq,
            horizon=settings.forecast_horizon,
            keys=settings.forecast_keys.split(","),
            measure=settings.forecast_measure,
            model_dir=settings.model_dir,
        )
        log.info("forecast_trained", version=run.version, series=run.series_count)
        return True
    finally:
        schedule.release(db, "forecast_retrain")


RETRAIN_BACKOFF_S = 3600.0


class BackgroundJobs:
    def __init__(self, db: Database, *, interval: float, settings: Settings | None = None) -> None:
        self.db = db
        self.interval = interval
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # A failed retraining (e.g. no history yet) waits this long before the next attempt,
        # instead of re-reading all the history on every tick.
        self.retrain_backoff_s = RETRAIN_BACKOFF_S
        self._retrain_not_before = 0.0

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                n = expire_once(self.db)
                if n:
                    log.info("reservations_expired", count=n)
                with self.db.transaction(write=True) as session:
                    purge_expired(session)  # idempotency keys older than their 24 h
            except Exception as exc:  # keep the loop alive; the next tick retries
                log.warning("expiry_failed", error=str(exc)[:300])
            if self.settings is not None and time.monotonic() >= self._retrain_not_before:
                try:
                    retrain_if_due(self.db, self.settings)
                except Exception as exc:
                    self._retrain_not_before = time.monotonic() + self.retrain_backoff_s
                    log.warning(
                        "forecast_retrain_failed",
                        error=str(exc)[:300],
                        retry_in_s=self.retrain_backoff_s,
                    )
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
