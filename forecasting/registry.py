"""Versioned model artifacts on disk.

Layout: ``ROOT/<version>/model.pkl`` and ``ROOT/<version>/metadata.json`` where versions are
``v0001``, ``v0002``, ... (monotonic). The metadata holds the training window, series count,
frequency, horizon, backtest metrics, method parameters, library versions and ``created_at``.

``model.pkl`` is a pickle: load artifacts only from a directory you trust.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from forecasting.models.base import Forecaster

_VERSION_RE = re.compile(r"^v(\d{4,})$")
MODEL_FILE = "model.pkl"
METADATA_FILE = "metadata.json"


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("numpy", "pandas", "scikit-learn", "pyarrow"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


@dataclass
class ModelArtifact:
    """A fitted model and its metadata (``version``/``path`` are set once saved)."""

    model: Forecaster
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    path: Path | None = None


def _versions(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)]
    return sorted(found, key=lambda v: int(v[1:]))


def save(artifact: ModelArtifact, root: str | Path) -> ModelArtifact:
    """Write ``artifact`` as the next version under ``root``; returns it with version/path."""
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    existing = _versions(base)
    number = int(existing[-1][1:]) + 1 if existing else 1
    while True:
        version = f"v{number:04d}"
        target = base / version
        try:
            target.mkdir()  # atomic: concurrent writers get distinct versions
            break
        except FileExistsError:
            number += 1
    meta = dict(artifact.metadata)
    meta.setdefault("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
    meta.setdefault("library_versions", library_versions())
    meta["version"] = version
    tmp = target / (MODEL_FILE + ".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(artifact.model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, target / MODEL_FILE)
    (target / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return ModelArtifact(model=artifact.model, metadata=meta, version=version, path=target)


def list_versions(root: str | Path) -> list[dict[str, Any]]:
    """Metadata of every saved version, oldest first."""
    base = Path(root)
    out = []
    for v in _versions(base):
        meta_path = base / v / METADATA_FILE
        if meta_path.exists():
            out.append(json.loads(meta_path.read_text()))
    return out


def load(root: str | Path, version: str | None = None) -> ModelArtifact:
    """Load a version (default: the latest). Raises ``FileNotFoundError`` if absent."""
    base = Path(root)
    versions = _versions(base)
    if not versions:
        raise FileNotFoundError(f"no model versions under {base}")
    v = versions[-1] if version is None else version
    target = base / v
    if not (target / MODEL_FILE).exists():
        raise FileNotFoundError(f"model version {v} not found under {base}")
    with (target / MODEL_FILE).open("rb") as fh:
        model = pickle.load(fh)  # noqa: S301 - artifacts are written by this package
    meta = json.loads((target / METADATA_FILE).read_text())
    if not isinstance(model, Forecaster):
        raise TypeError(f"{target / MODEL_FILE} does not hold a Forecaster")
    return ModelArtifact(model=model, metadata=meta, version=v, path=target)
