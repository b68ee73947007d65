"""Micro-benchmark of the SMPP codec's hot path: prints operations per second.

Run from the checkout: ``python bench/micro_codec.py [--seconds 0.5]``.  Measures decode(submit_sm),
encode(submit_sm_resp), encode(deliver_sm) with a receipt, encode(enquire_link_resp) and Framer.feed of
1,000 concatenated submit_sm (reported per PDU).  Each figure is the best of 15 timed runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsc.smpp.codec import Framer, decode, encode  # noqa: E402
from smsc.smpp.constants import Tag  # noqa: E402
from smsc.smpp.pdu import DeliverSm, EnquireLinkResp, SubmitSm, SubmitSmResp  # noqa: E402


def _rate(fn: Callable[[], object], seconds: float, per_call: int = 1, runs: int = 15) -> float:
    """Best ops/s over ``runs`` runs sharing ``seconds`` (the best run is the least disturbed one)."""
    calls = 1
    while True:  # calibrate: find a call count taking about a fifth of the budget
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed > seconds / 50 or calls > 10_000_000:
            break
        calls *= 2
    target = max(1, int(calls * (seconds / runs) / max(elapsed, 1e-9)))
    best = 0.0
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(target):
            fn()
        elapsed = time.perf_counter() - t0
        best = max(best, target * per_call / elapsed)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time budget per measurement")
    args = parser.parse_args(argv)

    submit = SubmitSm(
        sequence_number=42,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="447700900123",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="447700900456",
        registered_delivery=1,
        short_message=b"Hello from the load generator, message number 000042",
    )
    submit_bytes = encode(submit)
    resp = SubmitSmResp(sequence_number=42, message_id="0123456789abcdef")
    receipt = DeliverSm(
        sequence_number=7,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="447700900456",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="447700900123",
        esm_class=0x04,
        short_message=(
            b"id:0123456789abcdef sub:001 dlvrd:001 submit date:2501011200 done date:2501011200 "
            b"stat:DELIVRD err:000 text:Hello from the load"
        ),
        tlvs={Tag.receipted_message_id: "0123456789abcdef", Tag.message_state: 2},
    )
    link_resp = EnquireLinkResp(sequence_number=9)
    stream = submit_bytes * 1000

    def feed() -> None:
        Framer().feed(stream)

    rows = [
        ("decode(submit_sm)", _rate(lambda: decode(submit_bytes), args.seconds), "PDU/s"),
        ("encode(submit_sm_resp)", _rate(lambda: encode(resp), args.seconds), "PDU/s"),
        ("encode(deliver_sm receipt)", _rate(lambda: encode(receipt), args.seconds), "PDU/s"),
        ("encode(enquire_link_resp)", _rate(lambda: encode(link_resp), args.seconds), "PDU/s"),
        ("Framer.feed(1,000 submit_sm)", _rate(feed, args.seconds, per_call=1000), "PDU/s"),
    ]
    print(f"python {sys.version.split()[0]}, submit_sm {len(submit_bytes)} octets")
    for name, rate, unit in rows:
        print(f"{name:<30} {rate:>12,.0f} {unit}")


if __name__ == "__main__":
    main()
