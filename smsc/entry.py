"""The ``smsc`` command's first step, before the imports of the server (a quarter of a second): a stop signal.

Until the server's event loop takes signals over, SIGTERM and SIGHUP (unless ignored, as under ``nohup``) and
Ctrl-C end the command with one line, ``smsc: stopped by SIGTERM before it started`` (a JSON object with
``--log-format json``), and the status 128 + the signal, as a shell reports a process killed by it.  Without this,
a signal during the imports killed the process without a word, or Ctrl-C printed a traceback (testers 130, 131).
"""

from __future__ import annotations

import datetime
import json
import signal
import sys
from typing import Any

__all__ = ["StoppedEarly", "main", "stop_early_on_signals"]


class StoppedEarly(BaseException):
    """A stop signal before the server's loop took signals over; ``signum`` says which.  A BaseException, as
    KeyboardInterrupt is, so that an ``except Exception`` wherever it is raised does not take it for that code's
    own failure (see :data:`received`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: The stop signals received before the server's loop took them over.  The exception is not enough: raised while
#: the imports compile a module from source (``PYTHONDONTWRITEBYTECODE``, as on this CI machine), it did not come
#: out of the import, and the server started as if no signal had come (the suite's test of a SIGTERM at the first
#: moment hung 4 times in 8); :func:`main` and the server's start look here too.
received: list[int] = []


def _raise_stopped(signum: int, frame: Any) -> None:
    received.append(signum)
    raise StoppedEarly(signum)


def stop_early_on_signals() -> dict[signal.Signals, Any]:
    """Make SIGTERM and SIGHUP raise :class:`StoppedEarly` (SIGHUP left alone when ignored, as ``nohup`` has it);
    returns the handlers they had, to put back."""
    received.clear()  # (a new command: main() may run again in one process, as the tests run it)
    signals = [sig for sig in (signal.SIGTERM, signal.SIGHUP) if signal.getsignal(sig) is not signal.SIG_IGN]
    return {sig: signal.signal(sig, _raise_stopped) for sig in signals}


def stopped_line(signum: int, json_log: bool) -> str:
    """The one line a command stopped before it started writes on stderr."""
    text = f"stopped by {signal.Signals(signum).name} before it started"
    if not json_log:
        return f"smsc: {text}"
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    return json.dumps({"event": "stopped_before_start", "level": "error", "timestamp": stamp, "error": text})


def main() -> int:
    """Entry point of the ``smsc`` console script and ``python -m smsc``: :func:`smsc.cli.main`, with the signals
    above taken care of from the first moment."""
    previous = stop_early_on_signals()
    try:
        from smsc import cli

        if received:  # (a signal whose exception the imports lost)
            raise StoppedEarly(received[0])
        return cli.main()
    except (KeyboardInterrupt, StoppedEarly) as exc:
        signum = exc.signum if isinstance(exc, StoppedEarly) else int(signal.SIGINT)
        words = sys.argv[1:]
        json_log = "--log-format=json" in words or any(
            w == "--log-format" and n == "json" for w, n in zip(words, words[1:]))
        print(stopped_line(signum, json_log), file=sys.stderr, flush=True)
        return 128 + signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
