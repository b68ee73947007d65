"""Start the SMPP listeners (plain TCP and optional TLS) and own what all connections share.

:class:`SmppServer` holds the config, the core facade, the accounts policy, the bind registry, plain-int
counters and the once-a-second timer sweep; it creates one :class:`~smsc.server.protocol.SmppProtocol` per
accepted socket, refusing sockets above ``max_connections`` or ``max_connections_per_ip``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Callable

import structlog

from smsc.core.accounts import Accounts
from smsc.core.api import SmscApi
from smsc.server.binds import BindRegistry
from smsc.server.outbind import Outbinder
from smsc.server.protocol import BIND_FAILURE_WINDOW, SmppProtocol, peer_name
from smsc.smpp.session import SessionTimers

log = structlog.get_logger("smsc.server")


class TlsListenError(OSError):
    """The TLS listener could not start (``port``: ``server.tls.port``); the plain one had (tester 110: the error
    blamed the SMPP port and --port)."""

    def __init__(self, errno: int | None, strerror: str, port: int) -> None:
        super().__init__(errno, strerror)
        self.port = port


#: A warning or refusal that a client can repeat on every new connection (a framing error, a refused bind) is logged
#: for each client address the first time, then every this many times with the count (see SmppServer.log_count).
PEER_LOG_EVERY = 100
#: Real seconds without such an event after which the next one from that address is logged as a first again.
PEER_LOG_QUIET = 60.0
#: (event, address) pairs counted at most; beyond, the counts start again (a scan from many addresses).
PEER_LOG_KEYS = 10_000

#: Seconds of a stop's grace kept for unbind and unbind_resp, whatever waits before them.
UNBIND_TIME = 1.0
#: A refused connection is logged the first time, then every this many (with the count).
CONNECTIONS_REFUSED_LOG_EVERY = 100
#: Seconds a stop gives the ESMEs to take what they are owed and answer the unbind before it closes them.
STOP_GRACE = 5.0

def _nothing() -> None:
    """No core timers to run (a server built without the app's scheduler driver)."""


#: Sessions whose timers are run in one go by the sweep before the loop gets a turn.
SWEEP_SLICE = 256


@dataclass(slots=True)
class ServerCounters:
    """Plain counters, read by the metrics collector at scrape time (no metric objects on the hot path)."""

    connections_opened: int = 0
    connections_closed: int = 0
    connections_refused: int = 0
    binds: int = 0
    binds_refused: int = 0
    submits: int = 0
    throttled: int = 0
    deliveries_sent: int = 0
    #: Responses owed to an ESME (its requests accepted, their answers not yet come) when its connection closed:
    #: the messages are accepted and delivered, but the ESME never learned their message_ids.
    responses_unsent: int = 0


class SmppServer:
    """The SMPP side of one running SMSC: listeners, live sessions and their shared state."""

    def __init__(self, config: Any, smsc: SmscApi, accounts: Accounts, *, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.smsc = smsc
        self.accounts = accounts
        self.loop = loop
        srv = config.server
        self.timers = SessionTimers(
            session_init=srv.session_init_timer,
            enquire_link=srv.enquire_link_timer,
            inactivity=srv.inactivity_timer,
            response=srv.response_timer,
        )
        self.registry = BindRegistry(loop)
        #: True from the start of :meth:`stop`: what the ESMEs leave unanswered waits for the next start.
        self.stopping = False
        #: Connections refused, by the limit that refused them (its ``connection_refused`` lines are counted apart).
        self.refused_by_limit: dict[str, int] = {}
        self.counters = ServerCounters()
        #: Requests answered with an error status, by (command, status name): ``smsc_smpp_requests_refused_total``
        #: (tester 84: throttled, system errors and the rest were one unlabelled count).
        self.refusals: dict[tuple[str, str], int] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._per_ip: dict[str, int] = {}
        #: Addresses actually bound, as (host, port) pairs; the plain listener first.
        self.addresses: list[tuple[str, int]] = []
        #: Runs the core's timers that are already due (set by the app; see :meth:`pump`).
        self.run_due_timers: Callable[[], None] = _nothing
        self.outbinder = Outbinder(self)
        self.registry.on_no_receiver = self.outbinder.maybe_outbind
        smsc.set_gateway(self.registry)
        #: The loop's turns in which connections read, counted (see :meth:`read_turn_started`): a connection
        #: counts the octets it reads within one turn (``protocol.READ_TURN_OCTETS``).
        self.read_turn = 0
        self._read_turn_pending = False
        #: Connections whose turn ended early (they read READ_TURN_OCTETS): reading again at the next turn.
        self.turn_paused: list[Any] = []
        #: The TLS listener's socket, the task accepting on it, and the handshakes under way (:meth:`_accept_tls`).
        self._tls_listener: socket.socket | None = None
        self._tls_accepting: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        #: (event, kind, peer IP) -> (count, loop time of the last): see :meth:`log_count`.
        self._peer_log: dict[tuple[str, str, str], tuple[int, float]] = {}
        #: Peer IP -> (failed binds in the window, loop time of the window's first): ``server.max_bind_failures``.
        self._bind_failures: dict[str, tuple[int, float]] = {}
        #: Unbinds the control API asked for, each waiting for its connection's owed responses (:meth:`unbind_one`).
        self._unbinding: set[asyncio.Task[None]] = set()

    def read_turn_started(self) -> None:
        """A connection read in a loop turn that has not counted yet: count the turn once its reads are done
        (one ``call_soon`` per turn for every connection, not one per read) and let the connections paused in
        it read again."""
        if not self._read_turn_pending:
            self._read_turn_pending = True
            self.loop.call_soon(self._next_read_turn)

    def _next_read_turn(self) -> None:
        self._read_turn_pending = False
        self.read_turn += 1
        paused, self.turn_paused = self.turn_paused, []
        for conn in paused:
            conn.next_turn()

    def pump(self, reader: SmppProtocol | None = None) -> None:
        """Before ``reader`` writes what a read produced: run the core timers already due and hand out the
        deliveries waiting (``reader`` first), so their deliver_sm join the same write (one system call,
        one wake-up of the ESME) instead of following one loop turn later."""
        registry = self.registry
        try:
            self.run_due_timers()
            registry.drain_now(reader)
        except Exception:  # a bug in handing out deliveries (to any bind) must not close the reading one
            log.exception("pump_error", system_id=reader.session.system_id if reader is not None else None)
        finally:
            registry.end_pump()

    @property
    def port(self) -> int:
        """The port the plain listener is bound to (useful with port 0)."""
        return self.addresses[0][1]

    def _make_protocol(self) -> asyncio.Protocol:
        return _Admission(self)

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Listen on ``host:port`` (config values by default; port 0 picks a free port) and on TLS if set."""
        srv = self.config.server
        host = srv.host if host is None else host
        port = srv.port if port is None else port
        server = await self.loop.create_server(self._make_protocol, host, port, reuse_address=True, backlog=1024)
        self._servers.append(server)
        self.addresses.append(server.sockets[0].getsockname()[:2])
        tls = srv.tls
        if tls is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(tls.certfile, tls.keyfile, password=lambda: b"")  # (no passphrase prompt)
            # A handshake never finished is bounded by the session_init_timer too (tester 46: asyncio's own 60 s
            # kept such a connection twice as long as a silent plain one); 0 (off) keeps asyncio's.
            handshake = srv.session_init_timer or None
            try:
                listener = socket.create_server((host, tls.port), family=_family(host), backlog=1024,
                                                reuse_port=False)
            except OSError as exc:
                raise TlsListenError(exc.errno, exc.strerror or str(exc), tls.port) from None
            listener.setblocking(False)
            self._tls_listener = listener
            self.addresses.append(listener.getsockname()[:2])
            # Each connection's handshake is awaited here, so that one that fails is said in the log (with ssl= on
            # a listener asyncio drops it silently: tester 126, a plain SMPP client on the TLS port had its
            # connection closed and the log said nothing).  (Not a transport of our own running start_tls: uvloop
            # reads a new connection at once, and the ClientHello was lost.)
            self._tls_accepting = self.loop.create_task(self._accept_tls(listener, ctx, handshake))
        self._sweeper = self.loop.create_task(self._sweep())

    async def _sweep(self) -> None:
        """Run every session's timers once a second (one task for all sessions, not one per session), in
        slices of :data:`SWEEP_SLICE` sessions with the loop free between them, so that 10,000 sessions do
        not stall traffic for the length of a full sweep."""
        while True:
            await asyncio.sleep(1.0)
            protos = list(self.registry.connections)
            for i in range(0, len(protos), SWEEP_SLICE):
                now = self.loop.time()
                for proto in protos[i:i + SWEEP_SLICE]:
                    if proto.transport is not None:
                        proto.poll(now)
                await asyncio.sleep(0)

    def bound_as(self, system_id: str) -> list[Any]:
        """The connections bound as ``system_id`` now (those a disconnect of it ends)."""
        return [p for p in self.registry if p.session.is_bound and p.session.system_id == system_id]

    def lock_account(self, system_id: str, locked: bool, seconds: float | None, by: str) -> Any:
        """Lock account ``system_id`` (its binds refused with ESME_RBINDFAIL, those made before go on) or unlock
        it; ``seconds`` (simulated, with ``locked``): unlocked after that long, unless switched again before (a
        later switch replaces the timer).  ``by`` names who asked, in the refusals' reason.  Returns its
        :class:`~smsc.core.accounts.AccountState`, or None when no account has that system_id."""
        state = self.accounts.state_for(system_id)
        if state is None:
            return None
        scheduler = self.smsc.scheduler  # type: ignore[attr-defined]
        if state.unlock is not None:
            scheduler.cancel(state.unlock)
            state.unlock = None
            state.unlocks_at = None
        state.locked = locked
        state.locked_by = by
        if locked and seconds is not None:
            state.unlocks_at = self.smsc.clock.now() + seconds  # type: ignore[attr-defined]
            state.unlock = scheduler.call_at(state.unlocks_at, self._unlocked, (state, seconds))
        return state

    @staticmethod
    def _unlocked(arg: tuple[Any, float]) -> None:
        state, seconds = arg
        state.locked = False
        state.unlock = None
        state.unlocks_at = None
        log.info("account_switched", system_id=state.account.system_id, locked=False,
                 reason=f"its lock of {seconds:g} s (simulated) is over")

    def unbind_soon(self, proto: Any, by: str = "the control API (POST /api/binds/disconnect)",
                    reason: str | None = None) -> None:
        """End ``proto``'s session once the responses it is owed are sent: for the control API (POST
        /api/binds/disconnect, "unbind"), the config's scenario, and the session's own inactivity_timer and dead
        link (tester 180: those unbound at once, and a submit_sm_resp still owed was lost).  It takes no new
        request from now (refused with ESME_RINVBNDSTS; before the API answers: tester 147 had a submit sent after
        the answer accepted three times in four) but goes on reading (its enquire_link answered, its
        deliver_sm_resp taken), then :meth:`unbind_one` in a task of its own.  ``reason``: the unbind's, for the
        log (default: asked by ``by``)."""
        proto.session.take_nothing_new()
        if self.stopping:
            return  # (the stop unbinds every ESME itself)
        task = self.loop.create_task(self.unbind_one(proto, by, reason))
        self._unbinding.add(task)
        task.add_done_callback(self._unbinding.discard)

    async def unbind_one(self, proto: Any, by: str = "the control API (POST /api/binds/disconnect)",
                         reason: str | None = None) -> None:
        """With ``proto`` taking nothing new (:meth:`unbind_soon`), wait for the responses its ESME is owed (a
        commit, a carrier's submit_latency, a transaction's outcome), at most the response_timer (the ESME's own
        wait for them is of that order), then send unbind: the ESME learns every message_id of a message
        accepted, as at a stop (tester 144: the unbind went out first, and the responses still owed were lost
        with the connection, 39 of 40 in one run, and resubmitted messages went out twice; tester 145: a 5 s
        submit_latency outlasted a wait of 4 s).  A transaction-mode data_sm whose outcome has not come by then
        is answered ESME_RDELIVERYFAILURE first, as at a stop (tester 180: it went unanswered)."""
        answered_by = self.loop.time() + max(self.timers.response or 0.0, STOP_GRACE)
        while proto.owes_responses and not proto.lost and self.loop.time() < answered_by:
            await asyncio.sleep(0.02)
        if proto.owes_responses and not proto.lost:
            proto.cut_transactions("unbind from the SMSC before the delivery outcome")
            cut_by = self.loop.time() + UNBIND_TIME
            while proto.owes_responses and not proto.lost and self.loop.time() < cut_by:
                await asyncio.sleep(0.02)
        if not proto.lost and proto.session.is_bound:  # (not when the ESME unbound meanwhile)
            proto.start_unbind(reason or f"unbind from the SMSC, asked by {by}")

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop accepting, unbind every bound ESME, wait up to ``grace`` seconds for them, close the rest.

        Responses still owed (submits waiting for their commit) are waited for up to ``grace`` less
        :data:`UNBIND_TIME`: that much is always left for the unbind and its unbind_resp, also when the store
        has stalled and those responses never come (the ESMEs then see an unbind, not a bare TCP close)."""
        self.stopping = True
        for task in list(self._unbinding):  # (the stop unbinds every ESME itself)
            task.cancel()
        for s in self._servers:
            s.close()
        self.outbinder.stop()
        self._stop_tls()
        deadline = self.loop.time() + grace
        answered_by = deadline - min(UNBIND_TIME, grace / 2)
        # Take no new requests, and answer every request already accepted before unbinding; a carrier rule's
        # submit delay holds none of those responses any more (one longer than the grace would be lost, and
        # with it the message_id of a message on disk).
        for proto in self.registry:
            proto.stop_reading()
        self.smsc.hurry_responses()
        while any(p.owes_responses for p in self.registry) and self.loop.time() < answered_by:
            await asyncio.sleep(0.02)
        for proto in self.registry:
            proto.start_unbind()
        # (a connection this side closed already waits only for the ESME to end it: no reason to wait for it)
        while any(not p.closing for p in self.registry.connections) and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for proto in self.registry:
            # (tester 101: an ESME that answered the unbind but not its receipts was said to have not answered it;
            # tester 131: one whose own unbind was answered, and its connection closed by us, too)
            if proto.closing:
                reason = "closed by the SMSC (its last writes sent), and ended by the stop: the ESME had not ended it"
            elif proto.session.unbind_answered:
                reason = f"unbind answered, but deliver_sm still unanswered at the end of the stop's grace ({grace:g} s)"
            else:
                reason = "no unbind_resp within the stop's grace"
            proto.abort(reason)
        if self._sweeper is not None:
            self._sweeper.cancel()
        for s in self._servers:
            await s.wait_closed()
        self._servers.clear()

    # -- TLS -------------------------------------------------------------------------------------------

    async def _accept_tls(self, listener: socket.socket, ctx: ssl.SSLContext, timeout: float | None) -> None:
        """Accept connections on the TLS listener; each runs its handshake in a task of its own."""
        while True:
            try:
                sock, peername = await self.loop.sock_accept(listener)
            except OSError as exc:  # (out of file descriptors, a connection reset before accept ...)
                reason = exc.strerror or str(exc)
                count = self.log_count("tls_accept_failed", reason, "")  # (tester 127: a line every 0.1 s)
                if count:
                    log.warning("tls_accept_failed", reason=reason, count=count)
                await asyncio.sleep(0.1)
                continue
            # Counted from the accept, as a plain connection is: connections still in their handshake held file
            # descriptors beyond max_connections until the session_init_timer (tester 127: 1,100 silent ones).
            ip = peername[0] if peername else ""
            refused_by = self.admit(ip)
            if refused_by:
                self.refuse(peername, refused_by)
                sock.close()
                continue
            task = self.loop.create_task(self._handshake(sock, ctx, timeout, ip))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, sock: socket.socket, ctx: ssl.SSLContext, timeout: float | None, ip: str) -> None:
        """Run the TLS handshake of one accepted connection (admitted already: :meth:`admit`); once done, the
        connection is an SMPP one as on the plain listener.  A handshake that fails is logged (:meth:`_tls_failed`);
        one the client ends without a word (a port probe) is not."""
        done = False
        try:
            peername = sock.getpeername()
            await self.loop.connect_accepted_socket(lambda: _Admission(self, admitted=True), sock, ssl=ctx,
                                                    ssl_handshake_timeout=timeout)
            done = True
        except asyncio.CancelledError:
            sock.close()
            raise
        except ssl.SSLError as exc:
            sock.close()
            self._tls_failed(peername, str(exc.reason or exc), exc.reason in _NOT_TLS)
        except (ConnectionAbortedError, TimeoutError, asyncio.TimeoutError) as exc:
            sock.close()
            if isinstance(exc, ConnectionAbortedError) and "longer than" not in str(exc):
                return  # (aborted by the client)
            self._tls_failed(peername, f"no TLS handshake within {timeout or 60:g} s (server.session_init_timer)",
                             False)
        except OSError:
            sock.close()  # (the client went during the handshake: nothing to say)
        finally:
            if not done:
                self.release(ip)

    def _tls_failed(self, peername: Any, cause: str, not_tls: bool) -> None:
        """Log a failed TLS handshake: the first per address and cause, then every 100th."""
        count = self.log_count("tls_handshake_failed", cause, peername[0] if peername else "")
        if not count:
            return
        hint = {"hint": f"the client sent no TLS handshake: a plain SMPP client connects to port {self.port} "
                        f"(server.port), or turns TLS on"} if not_tls else {}
        log.warning("tls_handshake_failed", peer=peer_name(peername), reason=cause, count=count, **hint)

    def _stop_tls(self) -> None:
        """Stop accepting on the TLS listener and end the handshakes under way."""
        if self._tls_accepting is not None:
            self._tls_accepting.cancel()
            self._tls_accepting = None
        for task in list(self._handshakes):
            task.cancel()
        if self._tls_listener is not None:
            self._tls_listener.close()
            self._tls_listener = None

    # -- what one client address repeats ------------------------------------------------------------

    def log_count(self, event: str, kind: str, peer_ip: str) -> int:
        """Count one more ``event`` of ``kind`` (a status, a cause) from ``peer_ip``: the count to log it with when
        this one is to be logged (the first, then every :data:`PEER_LOG_EVERY`-th; the first again after
        :data:`PEER_LOG_QUIET` seconds without one), else 0.  Per address across connections: a client that
        reconnects in a loop (a probe, TLS sent to the plain port, a password guesser) wrote a line per connection,
        100 MB of log in minutes (testers 124, 126)."""
        now = self.loop.time()
        key = (event, kind, peer_ip)
        seen = self._peer_log
        count, last = seen.get(key, (0, 0.0))
        if count and now - last > PEER_LOG_QUIET:
            count = 0
        if not count and len(seen) >= PEER_LOG_KEYS:
            seen.clear()
        count += 1
        seen[key] = (count, now)
        return count if count == 1 or count % PEER_LOG_EVERY == 0 else 0

    def bind_lockout(self, peer_ip: str) -> str:
        """Why binds from ``peer_ip`` are refused now, or "": ``server.max_bind_failures`` of them or more failed
        within :data:`BIND_FAILURE_WINDOW` seconds of the first (tester 126: 8,558 passwords tried a second,
        unhindered)."""
        limit = self.config.server.max_bind_failures
        failures = self._bind_failures.get(peer_ip)
        if not limit or failures is None:
            return ""
        count, since = failures
        left = since + BIND_FAILURE_WINDOW - self.loop.time()
        if left <= 0:
            del self._bind_failures[peer_ip]
            return ""
        if count < limit:
            return ""
        return (f"{count} failed binds from {peer_ip} within {BIND_FAILURE_WINDOW:g} s (server.max_bind_failures: "
                f"{limit}): its binds are refused for {left:.0f} s more")

    def bind_failed(self, peer_ip: str) -> int:
        """Count a bind from ``peer_ip`` refused for its credentials; the failures in the window so far."""
        now = self.loop.time()
        failures = self._bind_failures
        count, since = failures.get(peer_ip, (0, now))
        if now - since >= BIND_FAILURE_WINDOW:
            count, since = 0, now
        if not count and len(failures) >= PEER_LOG_KEYS:
            failures.clear()
        failures[peer_ip] = (count + 1, since)
        return count + 1

    # -- admission control -----------------------------------------------------------------------

    def admit(self, peer_ip: str) -> str:
        """Count a new connection from ``peer_ip``: "" when admitted, else the limit that refuses it
        (``server.max_connections (N)`` or ``server.max_connections_per_ip (N)``)."""
        srv = self.config.server
        if srv.max_connections and len(self.registry.connections) + len(self._handshakes) >= srv.max_connections:
            return f"server.max_connections ({srv.max_connections})"
        if srv.max_connections_per_ip and self._per_ip.get(peer_ip, 0) >= srv.max_connections_per_ip:
            return f"server.max_connections_per_ip ({srv.max_connections_per_ip})"
        self._per_ip[peer_ip] = self._per_ip.get(peer_ip, 0) + 1
        return ""

    def refuse(self, peername: Any, refused_by: str) -> None:
        """Count and log a connection refused by ``refused_by`` (:meth:`admit`); the caller closes it."""
        self.counters.connections_refused += 1
        by_limit = self.refused_by_limit  # (a count per limit: tester 115 saw the first refusal of the
        refused = by_limit[refused_by] = by_limit.get(refused_by, 0) + 1  # second limit go unsaid)
        if refused == 1 or refused % CONNECTIONS_REFUSED_LOG_EVERY == 0:
            # The limit and its value, then every 100th with the count (tester 113: 50 connections beyond the
            # limit gave 50 lines saying "connection limit", naming no setting).
            log.warning("connection_refused", peer=peer_name(peername), limit=refused_by, count=refused,
                        reason=f"over {refused_by}: the connection is closed as it opens")

    def release(self, peer_ip: str) -> None:
        """Forget a connection counted by :meth:`admit`."""
        n = self._per_ip.get(peer_ip, 0) - 1
        if n > 0:
            self._per_ip[peer_ip] = n
        else:
            self._per_ip.pop(peer_ip, None)


class _Admission(SmppProtocol):
    """SmppProtocol with connection-limit checks at accept time (``admitted``: checked already, at the TLS
    listener's accept)."""

    def __init__(self, server: SmppServer, *, admitted: bool = False) -> None:
        super().__init__(server)
        self._admitted = admitted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._admitted:
            super().connection_made(transport)
            return
        peer = transport.get_extra_info("peername")
        ip = peer[0] if peer else ""
        refused_by = self.server.admit(ip)
        if refused_by:
            self.server.refuse(peer, refused_by)
            transport.close()
            return
        self._admitted = True
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_admitted", False):
            self.server.release(self.peer_ip)
            super().connection_lost(exc)



#: OpenSSL's reasons for a first record that is not TLS at all (plain SMPP, HTTP ...).
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE",
                      "PACKET_LENGTH_TOO_LONG", "HTTPS_PROXY_REQUEST", "UNEXPECTED_RECORD"})


def _family(host: str) -> socket.AddressFamily:
    """The address family to listen on ``host`` with: IPv6 for an IPv6 address, else IPv4."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET
