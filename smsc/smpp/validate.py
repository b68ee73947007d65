"""Field checks an SMSC makes on submit_sm, data_sm and submit_multi before accepting them.

The codec already enforces sizes and framing; these are the value rules of SMPP 3.4 chapter 5 that a real
SMSC answers with a specific command_status rather than silently accepting: TON/NPI outside the defined
values, esm_class bits an ESME may not set, reserved registered_delivery bits, priority_flag above 3.
"""

from __future__ import annotations

from smsc.smpp import pdu as P
from smsc.smpp.constants import ESM_MODE_MASK, ESM_TYPE_MASK, CommandStatus, Npi, Ton

_TONS = frozenset(int(t) for t in Ton)
_NPIS = frozenset(int(n) for n in Npi)
#: Message types an ESME may set in esm_class bits 5-2 (SMPP 3.4 section 5.2.12): default, delivery
#: acknowledgement, manual/user acknowledgement.
_ESME_MESSAGE_TYPES = frozenset({0x00, 0x08, 0x10})
_REGISTERED_DELIVERY_RESERVED = 0xE0
#: Read once: an Enum class attribute costs about 0.1 us in CPython 3.11 (a global: 7 ns), once per submit here.
_ROK = CommandStatus.ESME_ROK


def check_submit(pdu: P.SubmitSm | P.DataSm | P.SubmitMulti) -> int:
    """The status to refuse ``pdu`` with, or ESME_ROK (0) when its field values are acceptable.

    Rules (SMPP 3.4): source TON/NPI (sections 5.2.5, 5.2.6) -> ESME_RINVSRCTON / ESME_RINVSRCNPI;
    destination TON/NPI -> ESME_RINVDSTTON / ESME_RINVDSTNPI (submit_multi: every SME address);
    esm_class (5.2.12): a message type other than default / delivery ack / user ack, or the transaction
    mode (2) outside data_sm -> ESME_RINVESMCLASS; registered_delivery (5.2.17) reserved bits 7-5 ->
    ESME_RINVREGDLVFLG; priority_flag (5.2.14) above 3 -> ESME_RINVPRTFLG.
    """
    if pdu.source_addr_ton not in _TONS:
        return CommandStatus.ESME_RINVSRCTON
    if pdu.source_addr_npi not in _NPIS:
        return CommandStatus.ESME_RINVSRCNPI
    if type(pdu) is P.SubmitMulti:
        for dest in pdu.dest_addresses:
            if type(dest) is P.SmeAddress:
                if dest.dest_addr_ton not in _TONS:
                    return CommandStatus.ESME_RINVDSTTON
                if dest.dest_addr_npi not in _NPIS:
                    return CommandStatus.ESME_RINVDSTNPI
    else:
        if pdu.dest_addr_ton not in _TONS:  # type: ignore[union-attr]
            return CommandStatus.ESME_RINVDSTTON
        if pdu.dest_addr_npi not in _NPIS:  # type: ignore[union-attr]
            return CommandStatus.ESME_RINVDSTNPI
    esm = pdu.esm_class
    if esm & ESM_TYPE_MASK not in _ESME_MESSAGE_TYPES:
        return CommandStatus.ESME_RINVESMCLASS
    if esm & ESM_MODE_MASK == 0x02 and type(pdu) is not P.DataSm:
        return CommandStatus.ESME_RINVESMCLASS
    if pdu.registered_delivery & _REGISTERED_DELIVERY_RESERVED:
        return CommandStatus.ESME_RINVREGDLVFLG
    if type(pdu) is not P.DataSm and pdu.priority_flag > 3:  # type: ignore[union-attr]
        return CommandStatus.ESME_RINVPRTFLG
    return _ROK
