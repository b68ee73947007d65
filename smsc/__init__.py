"""smsc: an SMSC simulator speaking SMPP 3.4 (README.md)."""

from __future__ import annotations

import importlib.metadata


def installed_version() -> str:
    """The installed distribution's version (pyproject.toml), or "unknown" when run from a bare checkout."""
    try:
        return importlib.metadata.version("smsc")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
