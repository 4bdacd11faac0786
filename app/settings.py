"""Service settings: one pydantic-settings class, environment variables prefixed RECYCLATE_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.kit.db import SQLITE_CACHE_MB


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECYCLATE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "production", "test"] = "development"
    database_url: str = Field(
        default="sqlite:///./data/recyclate.db",
        description="sqlite:///path or postgresql+psycopg://user:pass@host/db",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_statement_timeout_ms: int = Field(default=15_000, ge=100)
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)
    sqlite_cache_mb: int = Field(
        default=SQLITE_CACHE_MB,
        ge=1,
        le=65_536,
        description="SQLite page cache per pooled connection, in MiB (filled as pages are read)",
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    balance_connections: bool = Field(
        default=True,
        description="With several workers (SO_REUSEPORT), a worker holding more than its "
        "share of the keep-alive connections closes the excess after their next response, "
        "so that clients reconnect and the kernel places them again (app/kit/balance.py).",
    )
    reuse_port: bool = Field(
        default=True,
        description="With several workers on Linux, give each worker its own listening socket "
        "(SO_REUSEPORT) so that the kernel spreads connections over the workers; off: uvicorn's "
        "one shared socket, where a few keep-alive connections often all land on one worker.",
    )
    worker_healthcheck_timeout_s: int = Field(
        default=30,
        ge=1,
        le=600,
        description="With several workers, uvicorn's supervisor kills a worker that does not "
        "answer its health check in time (uvicorn's default: 5 s). Building the matching "
        "snapshot at 1M lots keeps a worker busy for 10-30 s, with the interpreter lock held "
        "for up to seconds at a time on a loaded machine.",
    )
    thread_pool_size: int = Field(
        default=16, ge=1, le=256, description="Worker threads for sync endpoints per process."
    )
    public_base_url: str = "http://127.0.0.1:8000"

    log_format: Literal["console", "json"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_upload_bytes: int = Field(default=20 * 1_048_576, ge=1024)
    upload_dir: Path = Path("./data/uploads")

    reservation_ttl_hours: float = Field(default=48, gt=0, le=24 * 30)
    background_jobs: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Run expiry in-process: auto = on for SQLite (embedded), off for PostgreSQL "
        "(run `recyclate worker` there).",
    )
    expiry_interval_seconds: float = Field(default=30, gt=0, le=3600)

    model_dir: Path = Path("./data/models")
    forecast_freq: Literal["W", "M"] = "W"
    forecast_horizon: int = Field(default=12, ge=1, le=104)
    forecast_measure: Literal["posted", "delivered"] = Field(
        default="posted",
        description="posted: quantity offered in lots (+ imported history); "
        "delivered: quantity delivered by orders",
    )
    forecast_keys: str = Field(
        default="family,polymer,dql_band,region",
        description="Grade key columns, from: family, polymer, form, dql_band, region",
    )
    retrain_interval_hours: float = Field(
        default=24 * 7, gt=0, description="Scheduled retraining by the background jobs"
    )

    oauth_token_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    idempotency_ttl_hours: int = Field(default=24, ge=1, le=720)
    api_key_touch_interval_seconds: int = Field(default=60, ge=0)
    inline_read_budget_ms: float = Field(
        default=1.0,
        ge=0,
        le=50,
        description="Hot list reads run on the event loop while they take less than this "
        "(SQLite; PostgreSQL uses a fixed 5 ms statement timeout); a slower statement is "
        "interrupted and re-run on a thread. 0: always a thread.",
    )
    rate_limit_requests: int = Field(
        default=6_000,
        ge=0,
        le=1_000_000_000,
        description="Requests per credential (API key or OAuth2 client) and window, over all "
        "API workers together (0: no limit). Over it: 429 with Retry-After.",
    )
    rate_limit_window_seconds: int = Field(
        default=60, ge=1, le=86_400, description="The rate-limit window, in seconds"
    )
    auth_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long a worker reuses a resolved bearer token (0: off). A revocation "
        "reaches the other workers within this time.",
    )
    auth_failures_per_minute: int = Field(
        default=60,
        ge=0,
        le=1_000_000,
        description="Failed authentications (unknown, expired or revoked tokens, wrong OAuth "
        "client secrets) each worker allows per client address and minute; then that "
        "address's uncached tokens and token requests get 429 until the minute is over, "
        "before any database lookup (0: no limit).",
    )
    list_page_cache_size: int = Field(
        default=512,
        ge=0,
        le=1_000_000,
        description="PostgreSQL: list pages each worker keeps, served again only while the "
        "database's snapshot is unchanged, which one small statement checks on every request "
        "(any write anywhere invalidates them all; about 40 KB each; 0: off).",
    )
    list_item_cache_size: int = Field(
        default=20_000,
        ge=0,
        le=10_000_000,
        description="List items each worker keeps rendered, by lot id and version (about 1 KB "
        "each; 0: off). A page still reads every lot's current version from the database.",
    )
    match_facts_in_memory: bool = Field(
        default=True,
        description="Each worker's matching snapshot also holds every active lot's title and "
        "stored match facts (about 370 bytes per lot: 0.37 GB at 1,000,000 active lots), so a "
        "match reads only the current state of its final top K from the database, never facts that "
        "the OS may have evicted from its page cache. false: facts are read per match (and "
        "cached, 20,000 lots per worker).",
    )
    transport_eur_per_t_km: float = Field(
        default=0.12, ge=0, le=100, description="Landed-cost estimate: road freight per t*km"
    )
    gc_gen0_threshold: int = Field(
        default=50_000,
        ge=0,
        le=10_000_000,
        description="Python's cyclic garbage collector runs a young pass per this many net "
        "new container objects (Python's default: 700) and a full pass over every live "
        "object after a share of them; a match request allocates thousands of short-lived "
        "objects, so with 700 full passes (10-20 ms each) landed in about one request in 20. "
        "0 keeps Python's default.",
    )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def run_background_jobs(self) -> bool:
        return self.background_jobs == "on" or (self.background_jobs == "auto" and self.is_sqlite)


@lru_cache
def get_settings() -> Settings:
    return Settings()
