"""The SMPP side alone: microseconds of CPU per message in the adapter, the session and the codec.

A stand-in core (:class:`_EchoCore`, the :class:`~smsc.core.api.SmscApi` calls the adapter makes, nothing
else) answers every submit at once with a fixed message_id and owes one receipt-sized deliver_sm for it; the
real :class:`~smsc.server.listen.SmppServer`, :class:`~smsc.server.protocol.SmppProtocol`, session and codec
do the rest over in-memory transports, as ``bench.profile_server`` does with the real core.  The difference
between the two tools' figures is what the simulated network costs.

    python -m bench.profile_adapter --count 50000                # 4 binds x window 100
    python -m bench.profile_adapter --count 20000 --window 1
    python -m bench.profile_adapter --count 50000 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import sys
import time
from collections import deque
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.profile_server import _connect, _drive, _submit_template  # noqa: E402
from smsc.config import load_config  # noqa: E402
from smsc.core.accounts import Accounts  # noqa: E402
from smsc.core.api import (  # noqa: E402
    Address, Delivery, DeliveryGateway, MultiSubmitResult, QueryResult, Submission, SubmitResult, TransactionResult,
)
from smsc.server.listen import SmppServer  # noqa: E402
from smsc.smpp.constants import CommandStatus, MessageState, Tag  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RECEIPT = (b"id:0000000001 sub:001 dlvrd:001 submit date:2611291100 done date:2611291100 stat:DELIVRD "
            b"err:000 text:benchmark message")


class _EchoCore:
    """Accepts every submit at once and owes a DELIVRD receipt for each (no routing, no store): the whole
    :class:`~smsc.core.api.SmscApi`, the requests this tool never sends answered with their failure status."""

    #: No store behind it: nothing to gain by holding a read's commits, and no alert is ever owed.
    hold_read_commits = False
    may_owe_alerts = False

    def __init__(self) -> None:
        self.gateway: DeliveryGateway | None = None
        self.waiting: deque[Delivery] = deque()
        self.next_id = 0

    def set_gateway(self, gateway: DeliveryGateway) -> None:
        self.gateway = gateway

    def submit(self, submission: Submission, reply: Callable[[SubmitResult], None]) -> None:
        self.next_id += 1
        message_id = "%010d" % self.next_id
        reply(SubmitResult(message_id=message_id))
        if submission.registered_delivery & 1:
            self.waiting.append(Delivery(
                delivery_id=self.next_id, system_id=submission.system_id, source=submission.destination,
                destination=submission.source, esm_class=0x04, short_message=_RECEIPT,
                tlvs={Tag.receipted_message_id: message_id, Tag.message_state: MessageState.DELIVERED},
            ))
            assert self.gateway is not None
            self.gateway.wake(submission.system_id)

    def submit_transaction(self, submission: Submission, reply: Callable[[TransactionResult], None]) -> str | None:
        reply(TransactionResult(status=CommandStatus.ESME_RSUBMITFAIL))
        return None

    def cut_transaction(self, message_id: str, why: str) -> None:
        pass

    def submit_multi(self, submission: Submission, destinations: list[Address], dl_names: list[str],
                     reply: Callable[[MultiSubmitResult], None], *, refused: dict[int, int] | None = None) -> None:
        reply(MultiSubmitResult(status=CommandStatus.ESME_RSUBMITFAIL))

    def submit_refused(self) -> None:
        pass

    def query(self, system_id: str, message_id: str, source: Address, reply: Callable[[QueryResult], None]) -> None:
        reply(QueryResult(status=CommandStatus.ESME_RQUERYFAIL))

    def cancel(self, system_id: str, service_type: str, message_id: str, source: Address, destination: Address,
               reply: Callable[[int], None]) -> None:
        reply(CommandStatus.ESME_RCANCELFAIL)

    def replace(self, system_id: str, message_id: str, source: Address, schedule_delivery_time: str,
                validity_period: str, registered_delivery: int, short_message: bytes,
                reply: Callable[[int], None], *, one_sms: bool = False, payload: bool = False) -> None:
        reply(CommandStatus.ESME_RREPLACEFAIL)

    def submit_rule_reason(self, destination: Address, status: int) -> str | None:
        return None  # (no simulated network: no rule answers a submit)

    def take_deliveries(self, system_id: str, limit: int,
                        carries: Callable[[Delivery], bool] | None = None) -> list[Delivery]:
        waiting = self.waiting
        return [waiting.popleft() for _ in range(min(limit, len(waiting)))]

    def deliveries_held(self, system_id: str) -> int:
        return 0

    def deliveries_available(self, system_id: str) -> int:
        return 0

    def delivery_late_acked(self, delivery_id: int, status: int) -> None:
        pass

    def delivery_awaits_answer(self, delivery_id: int) -> bool:
        return True

    def time_refusal_reason(self, schedule: str, validity: str, status: int) -> str | None:
        return None

    def delivery_acked(self, delivery_id: int, status: int) -> None:
        pass

    def delivery_failed(self, delivery_id: int, *, at_once: bool = False) -> None:
        self.waiting.append(Delivery(delivery_id=delivery_id, system_id="perf", source=Address(),
                                     destination=Address(), short_message=_RECEIPT))

    def delivery_sent(self, delivery_id: int) -> None:
        pass

    def hurry_responses(self) -> int:
        return 0

    def hold_commits(self) -> bool:
        return False

    def release_commits(self) -> None:
        pass

    def when_durable(self, callback: Callable[[], None]) -> None:
        callback()


async def _run(args: argparse.Namespace, profile: cProfile.Profile | None) -> dict[str, Any]:
    config = load_config(os.path.join(ROOT, "config", "bench.yaml"))
    loop = asyncio.get_running_loop()
    core = _EchoCore()
    server = SmppServer(config, core, Accounts.from_config(config.accounts, now=loop.time()), loop=loop)
    conns = await _connect(server, args.binds)
    template = bytearray(_submit_template(True))
    per_bind = args.count // args.binds
    args.receipts = True
    gc.collect()
    t_cpu = time.process_time()
    if profile is not None:
        profile.enable()
    rounds = await _drive(conns, template, per_bind, args.window, args)
    if profile is not None:
        profile.disable()
    cpu = time.process_time() - t_cpu
    messages = per_bind * args.binds
    for c in conns:
        c.proto.connection_lost(None)
    return {"binds": args.binds, "window": args.window, "messages": messages,
            "responses": sum(c.responses for c in conns), "receipts": sum(c.receipts for c in conns),
            "rounds": rounds, "cpu_us_per_msg": round(cpu / messages * 1e6, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=50000, help="submit_sm in all")
    ap.add_argument("--binds", type=int, default=4)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5, help="runs; the one with the least CPU is printed")
    ap.add_argument("--yield-every", type=int, default=1)
    ap.add_argument("--rounds-max", type=int, default=2_000_000)
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop (as smsc serve does when installed)")
    args = ap.parse_args(argv)
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    best: dict[str, Any] | None = None
    for _ in range(1 if args.profile else args.repeat):
        profile = cProfile.Profile() if args.profile else None
        if args.uvloop:  # (the 'fast' extra; as bench.profile_server, the default is asyncio's own loop)
            import uvloop

            result = uvloop.run(_run(args, profile))
        else:
            result = asyncio.run(_run(args, profile))
        if best is None or result["cpu_us_per_msg"] < best["cpu_us_per_msg"]:
            best = result
        if profile is not None:
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    print(best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
