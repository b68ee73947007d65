"""The in-memory store: commit semantics, copies on load, bounded retention of final messages."""

from __future__ import annotations

from smsc.core.api import Address, Delivery
from smsc.core.message import Message
from smsc.core.store.memory import MemoryStore
from smsc.smpp.constants import MessageState


def message(message_id: str, state: MessageState = MessageState.ENROUTE, final_time: float | None = None) -> Message:
    return Message(message_id=message_id, system_id="esme", source=Address(addr="1"), destination=Address(addr="2"),
                   destination_e164="2", state=state, final_time=final_time)


def test_commit_calls_on_durable_inline_or_through_call_soon() -> None:
    inline = MemoryStore()
    done: list[int] = []
    inline.commit(lambda: done.append(1))
    assert done == [1]
    queued: list = []
    deferred = MemoryStore(call_soon=queued.append)
    deferred.commit(lambda: done.append(2))
    deferred.commit(lambda: done.append(3))
    assert done == [1] and len(queued) == 1  # one wake-up for the whole batch
    queued.pop()()
    assert done == [1, 2, 3]


def test_load_returns_independent_copies_and_the_counters() -> None:
    store = MemoryStore()
    m = message("a")
    store.save_message(m)
    store.save_delivery(Delivery(delivery_id=3, system_id="esme", source=Address(), destination=Address()))
    store.save_delivery(Delivery(delivery_id=4, system_id="esme", source=Address(), destination=Address()))
    store.delete_delivery(3)
    store.save_counters(17, 5)
    state = store.load()
    assert [x.message_id for x in state.messages] == ["a"]
    assert state.messages[0] is not m
    assert [d.delivery_id for d in state.deliveries] == [4]
    assert (state.next_message_number, state.next_delivery_id) == (17, 5)


def test_final_messages_are_kept_up_to_the_bound_and_pruned_by_age() -> None:
    store = MemoryStore(retain_final=2)
    store.save_message(message("waiting"))
    for i, t in enumerate((10.0, 20.0, 30.0)):
        store.save_message(message(f"f{i}", MessageState.DELIVERED, t))
    assert sorted(m.message_id for m in store.load().messages) == ["f1", "f2", "waiting"]
    store.prune_final(25.0)
    assert sorted(m.message_id for m in store.load().messages) == ["f2", "waiting"]
    store.close()
    store.close()
    assert store.closed


def test_an_id_given_again_keeps_its_new_message_when_the_old_final_one_is_pruned_or_dropped() -> None:
    """After a message_id wrap the old final record's entry in the retention list names the id of a newer
    message: pruning it (before: deleted the waiting message that now had the id) or dropping it beyond
    ``retain_final`` (before: deleted the newer final message) leaves the newer one alone."""
    store = MemoryStore(retain_final=2)
    store.save_message(message("001", MessageState.DELIVERED, 10.0))
    waiting = message("001")  # the id given again, to a message that waits
    store.save_message(waiting)
    store.prune_final(50.0)
    assert store.load_messages(["001"]) == [waiting]

    newer = message("002", MessageState.DELIVERED, 60.0)
    store.save_message(message("002", MessageState.DELIVERED, 20.0))
    store.save_message(newer)  # "002" again, final too
    store.save_message(message("003", MessageState.DELIVERED, 70.0))  # the first "002" is dropped (bound 2)
    assert store.load_messages(["002"]) == [newer]
    store.prune_final(65.0)
    assert store.load_messages(["001", "002", "003"]) == [waiting, message("003", MessageState.DELIVERED, 70.0)]


def test_forget_id_drops_the_final_records_an_id_named_and_keeps_others() -> None:
    store = MemoryStore()
    for name in ("007-1", "007-2", "008"):
        store.save_message(message(name, MessageState.DELIVERED, 10.0))
    store.save_message(message("007-3"))  # (not final: never dropped)
    store.forget_id("007", ["007-1", "007-2", "007-3"])
    assert sorted(m.message_id for m in store.load().messages) == ["007-3", "008"]
