"""The `recyclate` command line: serve, migrate, demo data, organisations and keys."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from app.settings import get_settings

if TYPE_CHECKING:
    from app.kit.db import Database


def _db() -> Database:
    from app.kit.db import Database

    s = get_settings()
    return Database(
        s.database_url,
        busy_timeout_ms=s.sqlite_busy_timeout_ms,
        sqlite_cache_mb=s.sqlite_cache_mb,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from app.kit import serving

    s = get_settings()
    if args.migrate:
        cmd_db_upgrade(args)
    return serving.serve(
        "app.main:create_app",
        factory=True,
        host=args.host or s.host,
        port=args.port or s.port,
        workers=args.workers or s.workers,
        reuse_port=s.reuse_port,
        timeout_worker_healthcheck=s.worker_healthcheck_timeout_s,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
    )


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from app.kit.migrations import upgrade

    url = get_settings().database_url
    upgrade(url)
    print(f"database at head ({_redact(url)})", file=sys.stderr)
    return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_demo_load(args: argparse.Namespace) -> int:
    from app.demo.seed import DEMO_ORGS, load

    db = _db()
    with db.transaction() as session:
        orgs = load(session)
    if args.json:
        print(
            json.dumps(
                {
                    d.slug: {
                        "organization_id": orgs[d.slug].id,
                        "role": d.role.value,
                        "api_key": d.api_key,
                    }
                    for d in DEMO_ORGS
                },
                indent=2,
            )
        )
    else:
        print("Demo organisations and their API keys (demo database only):")
        for d in DEMO_ORGS:
            print(f"  {d.name:<36} {d.role.value:<13} {d.api_key}")
    db.dispose()
    return 0


def cmd_org_create(args: argparse.Namespace) -> int:
    from app.auth.service import create_api_key
    from app.orgs.models import OrgRole
    from app.orgs.service import create_organization

    db = _db()
    with db.transaction() as session:
        org = create_organization(
            session, name=args.name, role=OrgRole(args.role), country=args.country
        )
        key, secret = create_api_key(session, org.id, name="initial key")
        out = {
            "organization_id": org.id,
            "name": org.name,
            "role": org.role,
            "api_key_id": key.id,
            "api_key": secret,
        }
    db.dispose()
    if args.json:
        print(json.dumps(out))
    else:
        print(f"organisation {out['organization_id']} ({org.name}, {org.role})")
        print(f"API key {key.id}: {secret}  (shown once)")
    return 0


def cmd_key_create(args: argparse.Namespace) -> int:
    from app.auth.service import create_api_key
    from app.orgs.service import get_organization

    scopes = args.scopes.split(",") if args.scopes else None
    db = _db()
    with db.transaction() as session:
        get_organization(session, args.org)
        key, secret = create_api_key(session, args.org, name=args.name, scopes=scopes)
        out = {"api_key_id": key.id, "api_key": secret, "scopes": key.scopes}
    db.dispose()
    print(json.dumps(out) if args.json else f"API key {out['api_key_id']}: {secret}  (shown once)")
    return 0


def cmd_key_revoke(args: argparse.Namespace) -> int:
    from app.auth.service import revoke_api_key

    db = _db()
    with db.transaction() as session:
        key = revoke_api_key(session, args.org, args.key_id)
        revoked = key.revoked_at
    db.dispose()
    print(f"revoked {args.key_id} at {revoked:%Y-%m-%dT%H:%M:%SZ}" if revoked else "")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Background jobs for production (PostgreSQL): reservation expiry. Several may run."""
    import signal

    from app.kit.logging import configure_logging
    from app.worker import BackgroundJobs, expire_once

    s = get_settings()
    configure_logging(s.log_format, s.log_level)
    db = _db()
    if args.once:
        print(f"expired {expire_once(db)} reservation(s)")
        db.dispose()
        return 0
    jobs = BackgroundJobs(db, interval=args.interval or s.expiry_interval_seconds, settings=s)
    signal.signal(signal.SIGTERM, lambda *_: jobs.stop())
    with contextlib.suppress(KeyboardInterrupt):
        jobs.run_forever()
    db.dispose()
    return 0


def cmd_forecast_train(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`recyclate forecast train` without --events: train on the platform's own history
    (posted lots + imported history), store a new model version and its forecasts."""
    from app.forecasts.training import DEFAULT_KEYS, train
    from forecasting.cli import ProgressBar

    s = get_settings()
    db = _db()
    keys = args.keys or s.forecast_keys.split(",") or list(DEFAULT_KEYS)
    run = train(
        db,
        freq=args.freq or s.forecast_freq,
        horizon=args.horizon or s.forecast_horizon,
        keys=keys,
        measure=s.forecast_measure,
        model_dir=args.registry or s.model_dir,
        progress=None if args.no_progress else ProgressBar(err),
    )
    db.dispose()
    out.write(
        json.dumps(
            {
                "version": run.version,
                "method": run.method,
                "series_count": run.series_count,
                "training_window": [str(run.training_start), str(run.training_end)],
            }
        )
        + "\n"
    )
    return 0


def cmd_forecast_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from app.forecasts.training import check_keys, import_history
    from forecasting.dataset import read_events

    keys = check_keys(args.keys)
    events = read_events(args.events, args.time_col, args.qty_col, keys)
    db = _db()
    batch, n = import_history(db, events, time_col=args.time_col, qty_col=args.qty_col, keys=keys)
    db.dispose()
    out.write(json.dumps({"batch_id": batch, "imported": n}) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from app.auth.scopes import ALL_SCOPES

    parser = argparse.ArgumentParser(prog="recyclate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the API with uvicorn")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--migrate", action="store_true", help="run migrations first")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run background jobs (reservation expiry, retraining)")
    p.add_argument("--once", action="store_true", help="run one pass and exit")
    p.add_argument("--interval", type=float, help="seconds between passes")
    p.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database migrations").add_subparsers(
        dest="db_cmd", required=True
    )
    db.add_parser("upgrade", help="migrate to the latest schema").set_defaults(func=cmd_db_upgrade)

    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="demo_cmd", required=True)
    p = demo.add_parser("load", help="load demo organisations, keys and lots (idempotent)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo_load)

    org = sub.add_parser("org", help="organisations").add_subparsers(dest="org_cmd", required=True)
    p = org.add_parser("create", help="create an organisation and its first API key")
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=["recycler", "manufacturer", "both"])
    p.add_argument("--country", help="ISO 3166-1 alpha-2")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_org_create)

    key = sub.add_parser("key", help="API keys").add_subparsers(dest="key_cmd", required=True)
    p = key.add_parser("create", help="create an API key")
    p.add_argument("--org", required=True, help="organisation id (org_...)")
    p.add_argument("--name", default="cli key")
    p.add_argument("--scopes", help="comma-separated; default all: " + ",".join(sorted(ALL_SCOPES)))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_key_create)
    p = key.add_parser("revoke", help="revoke an API key")
    p.add_argument("--org", required=True)
    p.add_argument("key_id")
    p.set_defaults(func=cmd_key_revoke)

    from forecasting.cli import register

    register(sub, platform_train=cmd_forecast_train, platform_import=cmd_forecast_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from app.kit.problems import ProblemError

    try:
        return int(args.func(args))
    except ProblemError as exc:
        print(f"error: {exc.detail or exc.code}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
