"""How an application talks to smsc over SMPP 3.4, with smpplib: send SMS, read receipts and a handset's reply.

Start the simulator first (``smsc serve``), then run ``python examples/send_and_receive.py``. The script binds
as a transceiver (one connection that both sends and receives), submits a short and a long text to
447700900123 (delivered at once), waits for a delivery receipt for every submit_sm, sends "PIN" to
447700900901 (a handset that answers keywords) and waits for its reply, then unbinds. Exit status 0 when
everything arrived in time, else 1 with the reason on stderr.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from typing import Any, Callable

try:
    import smpplib.client
    import smpplib.consts as C
    import smpplib.exceptions
    import smpplib.gsm
except ImportError:  # (`pip install -e .` installs smsc alone: say what to install, not a traceback)
    sys.exit("this example needs smpplib, an SMPP client library: .venv/bin/pip install smpplib")

RECEIVER = "447700900123"  # test number: delivered at once, receipt stat:DELIVRD
AUTO_REPLY = "447700900901"  # test number: answers "PIN" with an MO message a few seconds later
# The MT's sender: a handset can reply to a number, not to a sender name such as "ACME".  88123 is the short code
# the bundled config's topology.mo_routes gives to system_id test: every MO to it, auto-replies included, goes to
# test.  Another account sends from a long number no MO route names, so that the reply comes back to it.
SHORT_CODE = "88123"
LONG_NUMBER = "447700900077"
LONG_TEXT = ("This is a long message. Anything over 160 GSM characters does not fit in one SMS, so it is sent "
             "as several parts that the handset joins again: each part starts with a user data header (UDH).")

# Bits 2-5 of a deliver_sm's esm_class say what it carries (SMPP 3.4 section 5.2.12): 0 is an MO message, 0x04 a
# delivery receipt; 0x08 and 0x10 are acknowledgements, 0x18 a conversation abort, 0x20 an intermediate
# notification.
MESSAGE_TYPE_MASK = 0x3C
SMSC_DELIVERY_RECEIPT = 0x04


def as_text(value: bytes | str | None) -> str:
    """smpplib gives most fields as bytes (receipted_message_id too); turn them into text for printing."""
    return value.decode("latin-1") if isinstance(value, bytes) else value or ""


class Inbox:
    """What the SMSC sent us, filled in by smpplib's handlers while ``client.read_once()`` runs."""

    def __init__(self) -> None:
        self.message_ids: dict[int, str] = {}  # submit_sm sequence number -> message_id from its submit_sm_resp
        self.receipts: dict[str, str] = {}  # receipted message_id -> receipt text "id:... stat:DELIVRD ..."
        self.replies: dict[str, str] = {}  # handset number -> text of its MO (a deliver_sm that is no receipt)

    def on_submit_sm_resp(self, pdu: Any) -> None:
        self.message_ids[pdu.sequence] = as_text(pdu.message_id)

    def on_deliver_sm(self, pdu: Any) -> None:  # on return, smpplib answers with deliver_sm_resp (ESME_ROK)
        text = as_text(pdu.short_message)
        kind = pdu.esm_class & MESSAGE_TYPE_MASK
        if kind and kind != SMSC_DELIVERY_RECEIPT:
            # An intermediate notification (0x20: ENROUTE after a first failed attempt) or an acknowledgement:
            # from the SMSC, not a reply from the handset.
            return
        if kind == SMSC_DELIVERY_RECEIPT:
            # The receipted_message_id TLV names the message; the "id:" field of the text is the fallback.
            found = re.search(r"\bid:(\S+)", text, re.IGNORECASE)
            message_id = as_text(getattr(pdu, "receipted_message_id", None)) or (found.group(1) if found else "")
            self.receipts[message_id] = text
        else:
            self.replies[as_text(pdu.source_addr)] = text


def submit(client: smpplib.client.Client, sender: str, destination: str, text: str,
           registered_delivery: int) -> list[int]:
    """Submit ``text`` from ``sender``, one submit_sm per part if it is long; return the submit_sm sequence
    numbers."""
    parts, data_coding, esm_class = smpplib.gsm.make_parts(text)  # esm_class 0x40 (UDHI) when split
    # TON 3 (network specific) for a short code; TON 1 (international), NPI 1 (E.164) for a full number.
    ton, npi = (C.SMPP_TON_NWSPEC, C.SMPP_NPI_UNK) if len(sender) <= 8 else (C.SMPP_TON_INTL, C.SMPP_NPI_ISDN)
    return [client.send_message(source_addr_ton=ton, source_addr_npi=npi, source_addr=sender,
                                dest_addr_ton=C.SMPP_TON_INTL, dest_addr_npi=C.SMPP_NPI_ISDN,
                                destination_addr=destination, short_message=part, data_coding=data_coding,
                                esm_class=esm_class, registered_delivery=registered_delivery).sequence
            for part in parts]


def read_until(client: smpplib.client.Client, done: Callable[[], bool], timeout: float) -> bool:
    """Read PDUs until ``done()`` holds or ``timeout`` seconds have passed; return ``done()``."""
    deadline = time.monotonic() + timeout
    for _ in range(10_000):  # bounded in count as well as in time
        if done() or time.monotonic() > deadline:
            break
        client.read_once()  # waits at most the socket timeout (1 s), then sends an enquire_link
    return done()


def unbind(client: smpplib.client.Client) -> bool:
    """Send unbind and read until its unbind_resp (a few PDUs at most: an enquire_link_resp or a receipt may
    still be on its way, and smpplib's unbind() returns whichever PDU comes first); True once it came."""
    answer = client.unbind()
    for _ in range(5):
        if answer is not None and answer.command == "unbind_resp":
            return True
        try:
            answer = client.read_pdu()
        except (OSError, smpplib.exceptions.ConnectionError):  # (socket timeout included: no answer in 1 s)
            return False
    return False


def fail(reason: str) -> int:
    print(f"failed: {reason}", file=sys.stderr)
    return 1


def exchange(client: smpplib.client.Client, inbox: Inbox, timeout: float, sender: str) -> int:
    """The conversation itself, on a bound transceiver."""
    sequences = submit(client, sender, RECEIVER, "Hello from the smsc example", registered_delivery=1)
    if not read_until(client, lambda: sequences[0] in inbox.message_ids, timeout):
        return fail("no submit_sm_resp for the short message")
    print(f"short message accepted: message_id={inbox.message_ids[sequences[0]]}")

    parts = submit(client, sender, RECEIVER, LONG_TEXT, registered_delivery=1)  # 1: a receipt for the outcome
    print(f"long message of {len(LONG_TEXT)} characters sent as {len(parts)} parts")
    sequences += parts

    # A receipt can arrive before its submit_sm_resp has been read: collect both, match them afterwards.
    def receipted() -> list[int]:
        return [s for s in sequences if inbox.message_ids.get(s, "") in inbox.receipts]

    if not read_until(client, lambda: len(receipted()) == len(sequences), timeout):
        return fail(f"receipts for only {len(receipted())} of {len(sequences)} submit_sm in {timeout} s")
    for sequence in sequences:
        text = inbox.receipts[inbox.message_ids[sequence]]
        stat = re.search(r"\bstat:(\w+)", text, re.IGNORECASE)
        print(f"receipt for message_id={inbox.message_ids[sequence]}: stat={stat.group(1) if stat else '?'}")
        print(f"    {text}")

    inbox.replies.clear()  # (forget MO that were waiting for system_id test since an earlier run)
    (pin,) = submit(client, sender, AUTO_REPLY, "PIN", registered_delivery=0)  # no receipt asked for: just the reply
    if not read_until(client, lambda: pin in inbox.message_ids and AUTO_REPLY in inbox.replies, timeout):
        return fail(f"no reply from {AUTO_REPLY} in {timeout} s (an MO to {sender} goes to the account the config's "
                    "topology.mo_routes names for it, if any, whoever sent the MT it answers)")
    print(f"reply from {AUTO_REPLY}: {inbox.replies[AUTO_REPLY]!r}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Send SMS through smsc; print the receipts and a reply.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--system-id", default="test")
    parser.add_argument("--password", default="test")
    parser.add_argument("--sender", help=f"source_addr of the MT (default: {SHORT_CODE}, the short code the bundled "
                                         f"config routes MO to test by, when bound as test; {LONG_NUMBER}, a number "
                                         "no MO route names, as any other account)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait at each step (default 10)")
    parser.add_argument("--verbose", action="store_true", help="log every PDU sent and read, in hex")
    args = parser.parse_args()
    # smpplib logs through the logging module: DEBUG shows each PDU; its warnings are noise for this script.
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR)

    # A short socket timeout lets read_until() look at its deadline about once a second.
    client = smpplib.client.Client(args.host, args.port, timeout=1, allow_unknown_opt_params=True)
    inbox = Inbox()
    client.set_message_sent_handler(inbox.on_submit_sm_resp)
    client.set_message_received_handler(inbox.on_deliver_sm)
    try:
        client.connect()
        client.bind_transceiver(system_id=args.system_id, password=args.password)
        print(f"bound as a transceiver to {args.host}:{args.port} as {args.system_id!r}")
        sender = args.sender or (SHORT_CODE if args.system_id == "test" else LONG_NUMBER)
        status = exchange(client, inbox, args.timeout, sender)
        if unbind(client):  # (whatever the outcome: a clean goodbye)
            print("unbound")
        return status
    except smpplib.exceptions.ConnectionError:
        return fail(f"no connection to {args.host}:{args.port}, or it was lost (is `smsc serve` running?)")
    except smpplib.exceptions.PDUError as error:
        return fail(f"the SMSC answered with an error: {error.args[0]}")
    finally:
        client.disconnect()


if __name__ == "__main__":
    sys.exit(main())
