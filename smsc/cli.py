"""Command line: ``smsc serve`` and ``smsc check-config`` (thin: parse arguments, call into the package)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import signal
import stat
import sys
from typing import Any, Callable, Coroutine, NoReturn, Sequence, TypeVar

import structlog

from smsc import installed_version
from smsc.app import App, StartupError
from smsc.config import (
    HOST_NAME_WHAT,
    LISTEN_HOST_WHAT,
    MAX_TIME_SCALE,
    MIN_TIME_SCALE,
    START_TIME_WHAT,
    Config,
    ConfigError,
    Topology,
    allowed_host_name,
    config_notes,
    is_listen_host,
    listener_clashes,
    load_config,
    parse_start_time,
    store_path_problem,
)
from smsc.gc_pacer import TICK as GC_TICK
from smsc.gc_pacer import GcPacer
from smsc.server.listen import STOP_GRACE

log = structlog.get_logger("smsc")

_D = TypeVar("_D")


#: Descriptors asked for beside the SMPP connections (the HTTP API's, the store's, the listeners, the log), and the
#: fewest that must be left for them before the limit is worth a warning.
FD_HEADROOM = 1024
FD_RESERVED = 64


def _raise_fd_limit(max_connections: int) -> None:
    """Raise the soft limit of open files towards ``server.max_connections`` plus :data:`FD_HEADROOM` (as far as
    the hard limit allows), and say so when it cannot reach it: at the common soft limit of 1,024 the default
    max_connections (10,000) was never reachable, and once the descriptors ran out every new SMPP bind and HTTP
    request was reset without a log line (tester 110)."""
    try:
        import resource
    except ImportError:  # (not POSIX)
        return
    wanted = max_connections + FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft < max_connections + FD_RESERVED:  # (tester 112: a hard limit of 1,024 warned even for 1 connection)
        try:  # (the descriptors open now, and about 16 the start opens next: listeners, store, writer pipes)
            spare = soft - len(os.listdir("/proc/self/fd")) - 16
        except OSError:
            spare = soft - FD_RESERVED
        log.warning("open_files_limit", limit=soft, max_connections=max_connections,
                    hint=f"at most about {max(0, spare)} connections can be open at once: raise the "
                         f"hard limit (ulimit -Hn) or lower server.max_connections")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 0 to 65535, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 2**64 - 1:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**64 - 1, got {text!r}")
    return value


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not MIN_TIME_SCALE <= value <= MAX_TIME_SCALE:
        raise argparse.ArgumentTypeError(f"expected a number from {MIN_TIME_SCALE:g} to {MAX_TIME_SCALE:g}, got "
                                         f"{text!r}")
    return value


def _start_time(text: str) -> float:
    value = parse_start_time(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected {START_TIME_WHAT}, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one JSON line when the command line asks for a JSON log
    (``--log-format json``): every line such a server writes is JSON, a bad option value included (tester 122)."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_errors:
            _print_json_error(f"{self.prog}: {message}", "usage_error")
            raise SystemExit(2)
        super().error(message)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smsc", description="SMSC simulator speaking SMPP 3.4")
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the simulator",
                           description="Run the simulator: SMPP server, simulated networks and the HTTP control "
                                       "API, on the bundled config or your own (-c FILE).  Ctrl-C, SIGTERM or SIGHUP "
                                       "stop it gracefully.")
    serve.add_argument("--config", "-c", metavar="FILE",
                       help="topology/config YAML (default: the bundled default.yaml)")
    serve.add_argument("--host", help="SMPP listen address (default: from the config)")
    serve.add_argument("--port", "-p", type=_port, help="SMPP port; 0 picks a free one (default: from the config)")
    serve.add_argument("--http-host", help="HTTP control API listen address (default: from the config)")
    serve.add_argument("--http-port", type=_port,
                       help="HTTP control API port; 0 picks a free one (default: from the config); with it, "
                            "--http-host or --http-allowed-host, the API starts even if the config has "
                            "http.enabled: false")
    serve.add_argument("--http-allowed-host", action="append", metavar="NAME", default=[],
                       help="a host name the HTTP API is reached by, besides localhost, IP addresses and this "
                            "machine's names (such as a compose service name for Prometheus); adds to "
                            "http.allowed_hosts; repeat for more")
    serve.add_argument("--no-http", action="store_true", help="do not start the HTTP control API")
    serve.add_argument("--store", choices=("sqlite", "memory"), help="override store.kind")
    serve.add_argument("--db", metavar="FILE", help="override store.path (the SQLite file)")
    serve.add_argument("--seed", type=_seed, help="override simulation.seed: fixes every random draw (README: what "
                                                "that replays)")
    serve.add_argument("--time-scale", type=_time_scale, metavar="X",
                       help=f"override simulation.time_scale: simulated seconds per real second ({MIN_TIME_SCALE:g} "
                            f"to {MAX_TIME_SCALE:g})")
    serve.add_argument("--start-time", type=_start_time, metavar="ISO",
                       help="override simulation.start_time: where the simulated clock starts, e.g. "
                            "2026-01-01T00:00:00Z")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                       help="debug adds a line per PDU read and written (default: info)")
    serve.add_argument("--log-format", default="console", choices=("console", "json"),
                       help="json: one JSON object per line, on stderr (default: console)")

    check = sub.add_parser("check-config", help="validate a config file and print every error",
                           description="Validate a config file: every error with its file, key path and what was "
                                       "expected (exit status 1), or OK (0).")
    check.add_argument("file", nargs="?", metavar="FILE", help="the YAML file to check")
    # (-c as serve takes it: tester 31 wrote `check-config -c FILE` and was refused)
    check.add_argument("--config", "-c", dest="config_file", metavar="FILE",
                       help="the YAML file to check (instead of FILE)")
    check.set_defaults(usage_of=check)  # (its errors show its own usage line, not smsc's: tester 59)
    return parser


def _with(obj: _D, **values: Any) -> _D:
    """The dataclass ``obj`` with the fields given a value (not None) replaced: the command line's overrides."""
    return dataclasses.replace(obj, **{k: v for k, v in values.items() if v is not None})  # type: ignore[type-var]


def _http_wanted(args: argparse.Namespace) -> bool | None:
    """False with ``--no-http``; True with ``--http-port``, ``--http-host`` or ``--http-allowed-host``, which ask for
    the API even where the config turns it off (tester 63); None: as the config says."""
    if args.no_http:
        return False
    # (--http-allowed-host too: a name allowed for an API that never started said nothing, tester 122)
    return True if args.http_port is not None or args.http_host is not None or args.http_allowed_host else None


def _options_clash(args: argparse.Namespace, config: Config) -> str | None:
    """Two of smsc's own listeners on one port once ``--host``, ``--port``, ``--http-host``, ``--http-port`` and
    ``--no-http`` apply (a clash in the file alone is a config error already), or None.  Without this the
    second listener failed with "address already in use" for a port that only smsc held (tester 59)."""
    server = _with(config.server, host=args.host, port=args.port)
    http = _with(config.http, host=args.http_host, port=args.http_port, enabled=_http_wanted(args))
    clashes = listener_clashes(dataclasses.replace(config, server=server, http=http))
    if not clashes:
        return None
    key, expected, value = clashes[0]
    options = " ".join(f"{option} {value_}" for option, value_ in (
        ("--host", args.host), ("--port", args.port), ("--http-host", args.http_host),
        ("--http-port", args.http_port)) if value_ is not None)
    return f"{options} with {config.source}: {key}: expected {expected}, got {value}"


def _head(path: str, size: int) -> bytes:
    """The first ``size`` octets of the regular file at ``path``; b"" when there is none (nothing there yet, or
    something that is no regular file: :func:`store_path_problem` reports that).  A FIFO is never opened: opening
    one to read waits for a writer for ever (tester 70: check-config hung after printing OK).  The file is opened
    without waiting and checked again once open, in case it was replaced by one since the look."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b""
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError):
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, size)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _store_notes(config: Config) -> list[str]:
    """A note when the file a valid config's SQLite store names exists here and is not an smsc store (another
    application's database, or no SQLite file at all), as ``serve`` would refuse it (testers 67, 69: check-config
    said OK to them)."""
    from smsc.core.store.sqlite import SQLITE_MAGIC, foreign_file_problem

    if config.store.kind != "sqlite" or store_path_problem(config.store.path) is not None:
        return []  # (no file of the kind to look into: load_config refused such a path already)
    problem = foreign_file_problem(config.store.path)
    if problem is None:
        head = _head(config.store.path, len(SQLITE_MAGIC))  # (b"": no file yet, or none to read: serve makes it)
        if not head or head == SQLITE_MAGIC:
            return []
        problem = "it is no SQLite database (its first octets are not SQLite's)"
    return [f"{config.source}: note: store.path {config.store.path!r} is not an smsc store here: {problem}: serve "
            "would not start here"]


def _say(args: argparse.Namespace, text: str, event: str = "cannot_start") -> None:
    """Write one refusal or error line of ``serve`` on stderr: ``smsc: ...`` text, or with ``--log-format json`` a
    JSON object like the log's others (tester 121: a JSON log got plain lines for exactly its errors)."""
    if args.log_format == "json":
        _print_json_error(text.removeprefix("smsc: "), event)
    else:
        print(text, file=sys.stderr, flush=True)


def _print_json_error(text: str, event: str) -> None:
    print(json.dumps({"event": event, "level": "error", "timestamp": _now_iso(), "error": text}), file=sys.stderr,
          flush=True)


def _now_iso() -> str:
    """The time now as the JSON log writes it (structlog's ISO form in UTC, ``...Z``)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _serve(args: argparse.Namespace) -> int:
    from smsc.obs import configure_logging

    for option, value in (("--host", args.host), ("--http-host", args.http_host)):
        if value is not None and not is_listen_host(value):  # ("" would listen on every interface)
            _say(args, f"smsc: {option}: expected {LISTEN_HOST_WHAT}, got {value!r}")
            return 2
    allowed_hosts = []
    for value in args.http_allowed_host:
        name = allowed_host_name(value)
        if name is None:
            _say(args, f"smsc: --http-allowed-host: expected {HOST_NAME_WHAT}, got {value!r}")
            return 2
        allowed_hosts.append(name)
    if args.config == "":  # (as check-config says it: tester 183 read ": cannot read the file" here)
        _say(args, "smsc: -c/--config: the file name is empty")
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in exc.errors:
            _say(args, line, "config_error")
        _say(args, f"smsc: not starting: {len(exc.errors)} error(s) in the config")
        return 2
    if args.no_http and (args.http_port is not None or args.http_host is not None or allowed_hosts):
        # (--no-http won silently: tester 64)
        _say(args, "smsc: --no-http: the HTTP API is off, so --http-port, --http-host and --http-allowed-host have "
                   "nothing to set; give one or the other")
        return 2
    if args.db is not None and (args.store or config.store.kind) != "sqlite":
        # (the file would be ignored, and a user who expects the messages in it after a restart finds none:
        # tester 59)
        given = "--store memory" if args.store else f"store.kind: {config.store.kind} in {config.source}"
        _say(args, f"smsc: --db: names a SQLite file, but the store is in memory ({given})")
        return 2
    clash = _options_clash(args, config)
    if clash:
        _say(args, f"smsc: {clash}")
        return 2
    if allowed_hosts:
        known = config.http.allowed_hosts
        config = dataclasses.replace(config, http=dataclasses.replace(
            config.http, allowed_hosts=known + tuple(n for n in dict.fromkeys(allowed_hosts) if n not in known)))
    # (a config of its own only for these was refused without accounts, and copying default.yaml's 250 lines was
    # the way: tester 66)
    config = dataclasses.replace(config, simulation=_with(config.simulation, seed=args.seed,
                                                          time_scale=args.time_scale, start_time=args.start_time))
    if args.store or args.db is not None:  # (--db '' is refused by the store, not taken for "no --db")
        store = dataclasses.replace(
            config.store, **({"kind": args.store} if args.store else {}),
            **({"path": args.db} if args.db is not None else {}),
        )
        # An error about the store then names the option, not only the file (StartupError starts with it).
        source = f"{config.source} with --db" if args.db is not None else config.source
        config = dataclasses.replace(config, store=store, source=source)
        # The rule load_config holds store.path to, for --db's file too: a FIFO was refused only by SQLite, as a
        # "disk I/O error" (tester 70).
        problem = store_path_problem(config.store.path) if config.store.kind == "sqlite" else None
        if problem is not None:
            _say(args, f"smsc: cannot start: {config.source}: store.path: expected {problem}, got "
                       f"{config.store.path!r}")
            return 2

    configure_logging(level=args.log_level, fmt=args.log_format)  # (the refusals above write stderr alone)
    _raise_fd_limit(config.server.max_connections)
    if config.topology.carriers == Topology().carriers:  # (no topology, or one without carriers)
        log.info("no_topology", config=config.source,
                 hint="one carrier delivers every message after about 3 s (at most 30 s); the bundled config's "
                      "test numbers are not in this file: copy config/default.yaml to keep them")
    fatal: list[str] = []

    async def run() -> None:
        app = App(config)
        stop = asyncio.Event()
        app.on_fatal = stop.set
        loop = asyncio.get_running_loop()

        def on_signal(sig: signal.Signals) -> None:
            # Said when the stop begins (tester 101: nothing was logged until "stopped", and a second signal
            # seemed ignored).
            if not stop.is_set():
                stop.set()  # (first: nothing the log does may keep the stop from happening)
                log.info("stopping", signal=sig.name, grace_seconds=STOP_GRACE,
                         hint="answers what is owed, unbinds the ESMEs, then closes")
            else:
                log.info("stop_in_progress", signal=sig.name,
                         hint=f"the stop ends within {STOP_GRACE:g} s of its start; kill -9 ends it at once "
                              f"(what was acknowledged is on disk with the SQLite store)")

        # SIGHUP too: a closed terminal or a supervisor's hang-up ended the process at once, without the
        # unbinds and the answers owed (tester 121); unless it is ignored already, as `nohup` has it, to keep
        # the server running after the terminal closes (tester 122).
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if sig is signal.SIGHUP and signal.getsignal(sig) is signal.SIG_IGN:
                continue
            loop.add_signal_handler(sig, on_signal, sig)
        from smsc import entry

        if entry.received:  # (a stop signal before the loop took signals over, whose exception got lost)
            on_signal(signal.Signals(entry.received[0]))
        try:
            await app.start(host=args.host, port=args.port, http_host=args.http_host, http_port=args.http_port,
                            http=_http_wanted(args))
        except BaseException:
            await app.stop()
            raise
        if args.log_level in ("warning", "error"):
            # The log leaves out the "listening" lines at these levels, and with --port 0 the port could not be
            # found at all (tester 77): one line says where to connect (JSON in a JSON log: tester 78).
            print(_listening_line(app, json_line=args.log_format == "json"), file=sys.stderr, flush=True)
        # The cycle collector runs when it costs nobody (smsc.gc_pacer); everything made so far (modules,
        # config, the simulated world) is frozen at once.
        assert app.smpp is not None
        counters = app.smpp.counters
        pacer = GcPacer(lambda: counters.connections_opened + counters.submits + counters.deliveries_sent)
        pacer.start()

        async def pace() -> None:
            while True:
                await asyncio.sleep(GC_TICK)
                pacer.tick()

        pacing = loop.create_task(pace())
        try:
            await stop.wait()
        finally:
            pacing.cancel()
            await app.stop()
            if app.fatal is not None:
                fatal.append(app.fatal)

    runner: Callable[[Coroutine[Any, Any, None]], None] = asyncio.run
    try:
        import uvloop  # optional speed-up: the "fast" extra

        runner = uvloop.run
    except ImportError:
        pass
    try:
        runner(run())
    except StartupError as exc:
        _say(args, f"smsc: cannot start: {exc}")
        return 2
    except OSError as exc:  # a listener could not bind (port in use, address not available ...)
        _say(args, f"smsc: cannot start: {exc.strerror or exc}")
        return 2
    if fatal:  # (the store found damaged while running: see App._store_damaged)
        _say(args, f"smsc: stopped: {fatal[0]}", "stopped_on_error")
        return 2
    return 0


def _listening_line(app: App, *, json_line: bool = False) -> str:
    """``smsc: listening: SMPP on HOST:PORT, HTTP on HOST:PORT`` for a started ``app`` (ports as bound); with
    ``json_line``, ``{"event": "listening", "smpp": "HOST:PORT", "http": ...}`` (one line of a JSON log)."""
    assert app.smpp is not None
    where = {"SMPP": _host_port(*app.smpp.addresses[0])}
    if len(app.smpp.addresses) > 1:
        where["SMPP over TLS"] = _host_port(*app.smpp.addresses[1])
    if app.http is not None:
        where["HTTP"] = _host_port(app.http.host, app.http.port)
    if json_line:
        return json.dumps({"event": "listening", "level": "info", "timestamp": _now_iso(),
                           **{k.lower().replace(" over ", "_"): v for k, v in where.items()}})
    return "smsc: listening: " + ", ".join(f"{k} on {v}" for k, v in where.items())


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smsc`` console script; returns the process exit status."""
    parser = _build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    _Parser.json_errors = any(w == "--log-format=json" or (w == "--log-format" and nxt == "json")
                              for w, nxt in zip(words, words[1:] + [""]))
    args = parser.parse_args(argv)
    if args.command == "check-config":
        if (args.file is None) == (args.config_file is None):
            args.usage_of.error("give the file to check, as FILE or as -c FILE (one of the two)")
        args.file = args.file if args.file is not None else args.config_file
        if not args.file:  # (`check-config "$CONFIG"` with CONFIG unset checked the bundled default: tester 59)
            args.usage_of.error("the file name is empty")
        try:
            config = load_config(args.file)  # (read once: the notes below look at what it read)
        except ConfigError as exc:
            for line in exc.errors:
                print(line, file=sys.stderr)
            print(f"{args.file}: {len(exc.errors)} error(s)", file=sys.stderr)
            return 1
        print(f"{args.file}: OK")
        for line in config_notes(config) + _store_notes(config):  # (this machine's, not the file's errors)
            print(line, file=sys.stderr)
        return 0
    # (a stop signal before the server's loop takes signals over: smsc.entry, the command's entry, answers it)
    return _serve(args)

if __name__ == "__main__":  # pragma: no cover
    from smsc.entry import main as entry_main

    sys.exit(entry_main())
