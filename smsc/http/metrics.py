"""Prometheus metrics for one running SMSC, read from plain counters at scrape time.

Nothing on the hot path touches a metric object: the SMPP server and the core count in plain ``int``
attributes (:class:`~smsc.server.listen.ServerCounters`, ``Smsc.stats``) and :class:`SmscCollector` turns
them into metric families only when ``GET /metrics`` is scraped.  The scrape runs on the event-loop thread,
the same thread that increments the counters, so one scrape sees one consistent snapshot.

Exported families (``_total`` is added to counters by the exposition format):

* ``smsc_smpp_<counter>_total`` for every field of ``ServerCounters`` (connections opened/closed/refused,
  binds, binds refused, submits, throttled, deliver_sm sent).
* ``smsc_<counter>_total`` for every integer counter of ``Smsc.stats`` (submitted, delivered, expired ...),
  except the levels named in :data:`CORE_GAUGES` (``smsc_messages_waiting``, ``smsc_messages_queued``,
  ``smsc_attempts_in_flight``).
* ``smsc_smpp_requests_refused_total{command,status}``: requests answered with an error status, each bind
  among them (also counted in ``smsc_smpp_binds_refused_total``), whoever refused it.
* ``smsc_smpp_connections``: open TCP connections; ``smsc_smpp_bound_sessions{system_id,bind_type}``;
  ``smsc_smpp_window_in_use{system_id}``: deliver_sm sent and not yet answered.
* ``smsc_outbox_pending{system_id}``: receipts and MO not yet acknowledged by that system_id's ESME
  (waiting for a receiver bind, sent and unanswered, or in backoff), from ``Smsc.outbox_sizes()``.
* ``smsc_store_<counter>_total`` for the SQLite store's counters (commits, failures, checkpoints, writer
  restarts ...; ``smsc_store_largest_batch`` a gauge) and ``smsc_store_commit_wait_seconds``: how long the
  oldest commit has waited for the writer (a stalled store shows here).
* ``smsc_simulation_time_seconds`` and ``smsc_time_scale``.
* ``smsc_build_info{version,python,store,event_loop}`` (always 1).

Each :class:`~smsc.http.api.HttpServer` builds its own :class:`CollectorRegistry` with
:func:`build_registry`, so several SMSCs in one process (tests) never share or clash on metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import platform
from collections import Counter
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from smsc import installed_version

if TYPE_CHECKING:
    from smsc.app import App

__all__ = ["SmscCollector", "build_registry", "render", "plain_counters", "CORE_GAUGES", "CORE_HELP", "SERVER_HELP"]

#: Help text of the SMPP server counters (``ServerCounters`` field -> description).
SERVER_HELP: dict[str, str] = {
    "connections_opened": "TCP connections accepted by the SMPP listeners",
    "connections_closed": "SMPP connections closed, for any reason",
    "connections_refused": "TCP connections refused by a connection limit",
    "binds": "successful bind_transmitter/receiver/transceiver",
    "binds_refused": ("bind requests answered with an error status, whatever the cause (credentials, the "
                      "account's rules, a connection bound already ...; also in smsc_smpp_requests_refused_total)"),
    "submits": "submit_sm, data_sm and submit_multi requests received",
    "throttled": ("submits answered ESME_RTHROTTLED: an account's throughput limit or submit_window, more "
                  "transaction-mode data_sm awaiting their outcome on one connection than it holds, a carrier's "
                  "number rule, or a congested carrier whose queue_full_status says so"),
    "deliveries_sent": "deliver_sm sent to ESMEs (receipts and MO, retries included)",
    "responses_unsent": ("responses owed to an ESME when its connection closed (a commit, a carrier's submit latency "
                         "or a transaction's outcome still awaited): accepted messages whose message_id it never "
                         "learned"),
}

#: Help text of the SQLite store's counters (``SqliteStats`` field -> description).
STORE_HELP: dict[str, str] = {
    "commits": "SQLite transactions committed (group commit: many messages each)",
    "messages": "message rows written",
    "deliveries": "outbox rows written or deleted",
    "callbacks": "on-durable callbacks released (submit_sm_resp and others)",
    "largest_batch": "most rows in one transaction so far",
    "write_seconds": "real seconds spent in the committed transactions",
    "failures": "commit attempts that failed (each tried again)",
    "read_failures": "background reads that failed (each tried again)",
    "read_retries": "reads on the event loop tried again, the file busy or locked",
    "checkpoints": "WAL checkpoints run by the writer child",
    "checkpoint_seconds": "real seconds the WAL checkpoints took (beside the commits)",
    "forced_checkpoints": "TRUNCATE checkpoints the writer ran itself, the WAL at its hard limit",
    "checkpoint_failures": "checkpoints that failed or could not empty the WAL",
    "writer_restarts": "writer child processes that died and were replaced",
}

#: Help text of the core counters (``Smsc.stats`` field -> description); others get a generic text.
CORE_HELP: dict[str, str] = {
    "submitted": "MT messages accepted (submit_multi counts each destination)",
    "submit_errors": "submits (or submit_multi destinations) refused with an error status",
    "replaced": "waiting messages replaced (replace_if_present_flag or replace_sm)",
    "attempts": "delivery attempts towards handsets",
    "retries": "temporary failures scheduled for a retry",
    "absent": "attempts that found the handset absent",
    "delivered": "messages delivered to the handset",
    "expired": "messages expired at the end of their validity period",
    "undeliverable": "messages that failed permanently (UNDELIV)",
    "rejected": "messages rejected by the network (REJECTD)",
    "accepted": "messages read by customer service on the subscriber's behalf, never delivered (ACCEPTD)",
    "deleted": "messages cancelled (cancel_sm) or replaced",
    "receipts": "final delivery receipts queued",
    "intermediate_receipts": "intermediate notifications queued",
    "receipts_lost": "receipts the simulated carrier lost, never queued (receipt style lost, rule receipt: lost)",
    "receipts_duplicated": "receipts the simulated carrier sent twice: the second copies (also in receipts)",
    "congested": ("submits (or submit_multi destinations) refused because their carrier's queue held its "
                  "queue_limit (also in submit_errors)"),
    "mo_received": "MO deliver_sm queued (each part of a long MO counts)",
    "mo_unrouted": "MO parts with no system_id to receive them",
    "auto_replies": ("handset auto-replies scheduled, each sent as MO after its delay (unless then unsendable: "
                     "auto_replies_unsendable)"),
    "auto_replies_unsendable": ("handset auto-replies not sent when due: more than 255 parts once encoded, or the "
                                "handset's carrier down or none (logged as auto_reply_skipped)"),
    "deliveries_queued": "receipts, MO and alert_notification added to the outbox (alerts are sent, not acked)",
    "deliveries_acked": "deliver_sm answered by the ESME with status 0",
    "deliveries_failed": "deliver_sm without a usable answer (offered again later)",
    "deliveries_dropped": "deliver_sm refused by the ESME with ESME_RX_P_APPN / ESME_RX_R_APPN",
    "deliveries_spilled": "deliveries kept only on disk, to be read back, beyond what the outbox keeps in memory",
    "dpf_set": "Delivery Pending Flags set (set_dpf=1 and the handset absent; one per system_id and number)",
    "alerts_queued": "alert_notification owed to ESMEs (a handset they set a Delivery Pending Flag for is back)",
    "alerts_sent": "alert_notification sent to ESMEs (there is no response: sent is done)",
    "restored_waiting": "messages not yet final read back from the store at start (they count in the final-state "
                        "counters when they end)",
    "restored_deliveries": "receipts and MO still owed read back from the store at start",
}

#: ``Smsc.stats`` fields that are current levels, not running totals: field -> (gauge name, help).
CORE_GAUGES: dict[str, tuple[str, str]] = {
    "waiting": ("smsc_messages_waiting", "Accepted messages not yet in a final state"),
    "queued": ("smsc_messages_queued", "Messages waiting for their carrier: its capacity, or its return while "
                                       "it is down"),
    "in_flight": ("smsc_attempts_in_flight", "Delivery attempts whose outcome is pending"),
}


def plain_counters(obj: Any) -> list[tuple[str, int | float]]:
    """The numeric attributes of a plain counters object, as ``(name, value)`` sorted by name.

    Works for dataclasses (slots or not) and ordinary objects; booleans, private names (``_x``) and
    non-numeric attributes are skipped.  ``None`` gives an empty list.
    """
    if obj is None:
        return []
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        items: Iterable[tuple[str, Any]] = ((f.name, getattr(obj, f.name, None)) for f in dataclasses.fields(obj))
    elif hasattr(obj, "__dict__"):
        items = vars(obj).items()
    else:
        items = ((name, getattr(obj, name, None)) for name in getattr(type(obj), "__slots__", ()))
    out = [
        (name, value)
        for name, value in items
        if not name.startswith("_") and isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    out.sort()
    return out


class SmscCollector:
    """A prometheus-client collector reading one :class:`~smsc.app.App`'s counters at scrape time.

    Missing parts (the App not started yet, or stopped) are skipped, so a scrape never fails.  ``describe``
    returns nothing: the family set depends on the core's counters and is only known at scrape time.
    """

    def __init__(self, app: App) -> None:
        self._app = app
        #: Label values of the per-system_id gauges seen at an earlier scrape: one that falls to nothing is
        #: reported as 0, not left out (a test that waits for ``smsc_outbox_pending{system_id="test"} == 0``
        #: never saw it; tester 28).
        self._seen_bound: set[tuple[str, str]] = set()
        self._seen_window: set[str] = set()
        self._seen_pending: set[str] = set()
        #: The labels of ``smsc_build_info`` (what runs: for dashboards and for an alert on a mixed fleet).
        self._build = {"version": installed_version(), "python": platform.python_version(),
                       "store": str(getattr(getattr(app, "config", None), "store", None) and app.config.store.kind)}

    def describe(self) -> list[Metric]:
        """No fixed names (see the class docstring)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family (see the module docstring for the list)."""
        app = self._app
        build = dict(self._build)
        try:
            build["event_loop"] = type(asyncio.get_running_loop()).__module__.partition(".")[0]
        except RuntimeError:  # (collected off the loop: a test)
            pass
        yield InfoMetricFamily("smsc_build", "What runs: smsc's version, Python's, the store kind and the event "
                               "loop (asyncio or uvloop); the value is always 1", value=build)
        smpp = getattr(app, "smpp", None)
        smsc = getattr(app, "smsc", None)
        if smpp is not None:
            yield from self._server_counters(smpp)
            yield from self._sessions(smpp)
        if smsc is not None:
            yield from self._core_stats(smsc)
            yield from self._queues(smsc)
        store = getattr(app, "store", None)
        if store is not None:
            yield from self._store(store)
        clock = getattr(app, "clock", None)
        if clock is not None:
            yield GaugeMetricFamily("smsc_simulation_time_seconds",
                                    "Simulation clock, seconds since the Unix epoch", value=clock.now())
            yield GaugeMetricFamily("smsc_time_scale", "Simulated seconds per real second",
                                    value=float(getattr(clock, "time_scale", 1.0)))

    # -- parts -------------------------------------------------------------------------------------

    @staticmethod
    def _server_counters(smpp: Any) -> Iterator[Metric]:
        for name, value in plain_counters(getattr(smpp, "counters", None)):
            help_ = SERVER_HELP.get(name, f"SMPP server counter {name}")
            yield CounterMetricFamily(f"smsc_smpp_{name}", help_, value=value)
        refused = CounterMetricFamily(
            "smsc_smpp_requests_refused",
            "SMPP requests answered with an error status (generic_nack included, refused binds too), by command "
            "(\"unknown\" for a command_id SMPP does not define) and status",
            labels=["command", "status"])
        for (command, status), value in sorted(getattr(smpp, "refusals", {}).items()):
            refused.add_metric([command, status], value)
        yield refused

    @staticmethod
    def _store(store: Any) -> Iterator[Metric]:
        for name, value in plain_counters(getattr(store, "stats", None)):
            help_ = STORE_HELP.get(name, f"SQLite store counter {name}")
            if name == "largest_batch":
                yield GaugeMetricFamily(f"smsc_store_{name}", help_, value=value)
            else:
                yield CounterMetricFamily(f"smsc_store_{name}", help_, value=value)
        wait = getattr(store, "commit_wait_seconds", None)
        if wait is not None:
            yield GaugeMetricFamily("smsc_store_commit_wait_seconds",
                                    "Real seconds the oldest commit sent to the SQLite writer has waited (0: none)",
                                    value=wait())

    def _sessions(self, smpp: Any) -> Iterator[Metric]:
        registry = smpp.registry
        connections = list(registry.connections)
        yield GaugeMetricFamily("smsc_smpp_connections", "Open SMPP TCP connections", value=len(connections))
        bound: Counter[tuple[str, str]] = Counter()
        window: Counter[str] = Counter()
        for proto in connections:
            session = proto.session
            if not session.is_bound or session.bind_type is None:
                continue
            bound[(session.system_id, session.bind_type.name.lower())] += 1
            window[session.system_id] += session.outstanding
        g = GaugeMetricFamily("smsc_smpp_bound_sessions", "Bound SMPP sessions",
                              labels=["system_id", "bind_type"])
        for (system_id, bind_type), n in _with_zeros(bound, self._seen_bound):
            g.add_metric([system_id, bind_type], n)
        yield g
        w = GaugeMetricFamily("smsc_smpp_window_in_use",
                              "deliver_sm sent and not yet answered by deliver_sm_resp", labels=["system_id"])
        for system_id, n in _with_zeros(window, self._seen_window):
            w.add_metric([system_id], n)
        yield w

    @staticmethod
    def _core_stats(smsc: Any) -> Iterator[Metric]:
        for name, value in plain_counters(getattr(smsc, "stats", None)):
            gauge = CORE_GAUGES.get(name)
            if gauge is not None:
                yield GaugeMetricFamily(gauge[0], gauge[1], value=value)
            else:
                yield CounterMetricFamily(f"smsc_{name}", CORE_HELP.get(name, f"core counter {name}"), value=value)

    def _queues(self, smsc: Any) -> Iterator[Metric]:
        stats_names = {name for name, _ in plain_counters(getattr(smsc, "stats", None))}
        waiting = _call(smsc, "waiting_count")
        if waiting is not None and "waiting" not in stats_names:
            yield GaugeMetricFamily(*CORE_GAUGES["waiting"], value=waiting)
        pending = _call(smsc, "outbox_sizes")
        if isinstance(pending, dict):
            g = GaugeMetricFamily("smsc_outbox_pending",
                                  "Deliveries (receipts, MO) waiting for or leased to a receiver bind",
                                  labels=["system_id"])
            for system_id, n in _with_zeros({str(k): v for k, v in pending.items()}, self._seen_pending):
                g.add_metric([system_id], n)
            yield g
        router = getattr(smsc, "router", None)
        queued_for = getattr(smsc, "queued_for_carrier", None)
        carriers = getattr(router, "carriers", None)
        if isinstance(carriers, dict) and queued_for is not None:
            # (tester 143: a carrier's outage and queue were only in /api/carriers, not on a dashboard's graphs)
            down = GaugeMetricFamily("smsc_carrier_down", "1 while the carrier is down (its link broken: nothing is "
                                     "attempted, its messages wait), else 0", labels=["carrier"])
            queued = GaugeMetricFamily("smsc_carrier_queued", "Messages waiting for the carrier: its capacity, or "
                                       "its return while it is down", labels=["carrier"])
            for name, carrier in sorted(carriers.items()):
                down.add_metric([name], 1 if getattr(carrier, "down", False) else 0)
                queued.add_metric([name], queued_for(name))
            yield down
            yield queued


def _with_zeros(values: Mapping[Any, int], seen: set[Any]) -> list[tuple[Any, int]]:
    """``values`` sorted by label, plus 0 for each label in ``seen`` that is not among them; ``seen`` takes the new
    labels (it grows with the system_ids and bind types ever reported: a handful)."""
    seen.update(values)
    return sorted({**dict.fromkeys(seen, 0), **values}.items())


def _call(obj: Any, name: str) -> Any:
    """``obj.name()`` if it exists (method) or ``obj.name`` (attribute/property); None otherwise."""
    attr = getattr(obj, name, None)
    if callable(attr):
        return attr()
    return attr


def build_registry(app: App, *, process: bool = True) -> CollectorRegistry:
    """A new registry holding an :class:`SmscCollector` for ``app`` (and process metrics if ``process``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SmscCollector(app))
    if process:
        ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The Prometheus text exposition of ``registry`` and its Content-Type header value."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
