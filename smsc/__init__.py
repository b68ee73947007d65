"""smsc: an SMSC simulator speaking SMPP 3.4 (README.md)."""

from __future__ import annotations


def installed_version() -> str:
    """The installed distribution's version (pyproject.toml), or "unknown" when run from a bare checkout."""
    import importlib.metadata  # (here, not at the top: the command's first step, smsc.entry, imports this package,
    # and it must take the stop signals as early as it can: tester 135)

    try:
        return importlib.metadata.version("smsc")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
