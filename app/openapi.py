"""Render the OpenAPI document: `python -m app.openapi > openapi/openapi.json` (make openapi)."""

from __future__ import annotations

import json
import sys

from fastapi import FastAPI


def render(app: FastAPI) -> str:
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main() -> None:
    from app.main import create_app
    from app.settings import Settings

    sys.stdout.write(render(create_app(Settings(database_url="sqlite://"))))


if __name__ == "__main__":
    main()
