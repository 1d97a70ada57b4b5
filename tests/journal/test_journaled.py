"""Journaled engine: restart continues exactly where the last answer left off."""

import json

import pytest

from safeguards import Engine
from safeguards.errors import JournalError, JournalLocked
from safeguards.journal.files import segment_name
from safeguards.journal.journaled import JournaledEngine, Line
from tests.eventkit import REFERENCE

T0 = 1_771_684_200_000_000_000
MS = 1_000_000


def life_cycle(order="O1", group="G1", qty=10):
    return [
        {"source": "local", "type": "intent", "event_id": f"i-{order}", "order_id": order, "group_id": group, "role": "leg",
         "symbol": "SPY", "side": "buy", "qty": qty, "recv_ts": T0},
        {"source": "local", "type": "submit", "event_id": f"s-{order}", "order_id": order, "group_id": group, "recv_ts": T0 + MS},
        {"source": "broker", "type": "new", "event_id": f"n-{order}", "order_id": order, "cum_qty": 0, "leaves_qty": qty,
         "broker_ts": T0 + 2 * MS, "recv_ts": T0 + 3 * MS},
        {"source": "broker", "type": "partial_fill", "event_id": f"p-{order}", "order_id": order, "last_qty": 4, "last_px": 1.0,
         "cum_qty": 4, "leaves_qty": qty - 4, "broker_ts": T0 + 4 * MS, "recv_ts": T0 + 5 * MS},
        {"source": "broker", "type": "fill", "event_id": f"f-{order}", "order_id": order, "last_qty": qty - 4, "last_px": 1.0,
         "cum_qty": qty, "leaves_qty": 0, "broker_ts": T0 + 6 * MS, "recv_ts": T0 + 7 * MS},
    ]


def copies(events):
    return [dict(e) for e in events]


def test_restart_keeps_state_and_makes_resends_duplicates(tmp_path):
    events = life_cycle()
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        assert journaled.recovery.fresh
        answers = journaled.submit(copies(events[:3]))
        journaled.answered()
        assert [d["verdict"] for d, _ in answers] == ["accept"] * 3
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        assert not journaled.recovery.fresh and journaled.recovery.records >= 3
        assert journaled.recovery.unanswered == []
        assert journaled.engine.order("O1")["state"] == "new"
        again = journaled.submit(copies(events[1:]))  # one answered re-send, then new events
        assert [d["verdict"] for d, _ in again] == ["duplicate", "duplicate", "accept", "accept"]
        assert [d["seq"] for d, _ in again] == [4, 5, 6, 7]  # arrival positions continue across the restart
        assert journaled.engine.order("O1")["state"] == "filled"


def test_final_state_equals_an_uninterrupted_run(tmp_path):
    events = life_cycle("O1") + life_cycle("O2", "G2")
    plain = Engine(REFERENCE)
    for event in copies(events):
        plain.process(event)
    for cut in (2, 5, 7):
        folder = tmp_path / f"j{cut}"
        with JournaledEngine(REFERENCE, folder) as first:
            first.submit(copies(events[:cut]))
        with JournaledEngine(REFERENCE, folder) as second:
            second.submit(copies(events[cut - 1:]))  # overlap: one already-journaled event re-sent
            for order in ("O1", "O2"):
                assert second.engine.order(order) == plain.order(order)
            assert second.engine.trading_state("G1") == plain.trading_state("G1")


def test_unanswered_decisions_are_handed_back(tmp_path):
    events = life_cycle()
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        journaled.submit(copies(events[:2]))
        journaled.answered()
        journaled.submit(copies(events[2:4]))  # journaled, never answered (crash before writing out)
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        unanswered = journaled.recovery.unanswered
        assert [d["event_id"] for d, _ in unanswered] == ["n-O1", "p-O1"]
        assert "2 decision(s) re-sent" in journaled.recovery.describe()


def test_unreadable_lines_are_quarantined_and_replayed(tmp_path):
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        [(decision, _)] = journaled.submit([("unreadable", "not valid JSON: Expecting value")])
        assert decision["verdict"] == "invalid"
    text = (tmp_path / "j" / segment_name(1)).read_text()
    assert "not valid JSON" in text
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        assert journaled.engine.counts["invalid"] == 1


def test_advance_is_journaled_and_replayed(tmp_path):
    events = life_cycle()
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        journaled.submit(copies(events[:2]))  # intent + submit, never acknowledged
        alerts = journaled.advance(T0 + 10_000 * MS)
        assert [a["kind"] for a in alerts] == ["ack_timeout"]
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        assert journaled.engine.alert_counts.get("ack_timeout") == 1


def test_foreign_policy_is_refused(tmp_path):
    with JournaledEngine(REFERENCE, tmp_path / "j"):
        pass
    other = tmp_path / "other.yaml"
    other.write_text(REFERENCE.read_text().replace("max_depth: 2", "max_depth: 3"))
    with pytest.raises(JournalError, match="journal belongs to multileg_options@1#"):
        JournaledEngine(other, tmp_path / "j")


def test_second_live_process_is_refused(tmp_path):
    with JournaledEngine(REFERENCE, tmp_path / "j"):
        with pytest.raises(JournalLocked):
            JournaledEngine(REFERENCE, tmp_path / "j")


def test_corrupt_journal_is_refused_not_restarted(tmp_path):
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        journaled.submit(copies(life_cycle()))
    path = tmp_path / "j" / segment_name(1)
    path.write_bytes(path.read_bytes().replace(b'"cum_qty":4', b'"cum_qty":9'))
    with pytest.raises(JournalError, match="checksum does not match"):
        JournaledEngine(REFERENCE, tmp_path / "j")
    assert path.exists()


def test_lines_are_journaled_as_received_and_replay_like_dicts(tmp_path):
    events = life_cycle()
    raws = [json.dumps(e).encode() for e in events]
    raws[1] = raws[1][:-1] + b', "seq": null}'  # a seq to fill in: re-encoded, not duplicated
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        lines = [Line(json.loads(raw), raw) for raw in raws]
        live = journaled.submit(lines)
        journaled.answered()
        state = journaled.engine.state()
    segment = (tmp_path / "j" / segment_name(1)).read_bytes().split(b"\n")
    assert segment[1].startswith(raws[0][:-1]) and segment[2].count(b'"seq"') == 1
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        assert journaled.engine.state() == state
    plain = Engine(REFERENCE)
    assert [decision for decision, _ in live] == [plain.process(dict(e, seq=n)) for n, e in enumerate(events, start=1)]



def test_inputs_claiming_the_journals_own_source_are_quarantined_not_obeyed(tmp_path):
    sneaky = {"source": "control", "type": "advance", "now": T0 + 10**15}
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        answers = journaled.submit([dict(sneaky), ["not", "an", "object"]])
        assert [d["verdict"] for d, _ in answers] == ["invalid", "invalid"]
        assert "reserved for the journal" in answers[0][0]["reason"]
        now = journaled.engine.now
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:  # replay does not advance time either
        assert journaled.engine.now == now and journaled.engine.counts["invalid"] == 2
    assert '\\"advance\\"' in (tmp_path / "j" / segment_name(1)).read_text()  # kept whole, quarantined


def test_an_event_json_cannot_hold_is_quarantined_and_answered_invalid(tmp_path):
    nan_price = {**life_cycle()[3], "last_px": float("nan")}
    lone_surrogate = {**life_cycle()[2], "event_id": "\ud800"}
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        answers = journaled.submit([nan_price, lone_surrogate, *copies(life_cycle()[:1])])
        journaled.answered()
        assert [d["verdict"] for d, _ in answers] == ["invalid", "invalid", "accept"]
        assert "cannot be journaled as JSON" in answers[0][0]["reason"]
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        assert journaled.recovery.records >= 3 and journaled.engine.order("O1") is not None
        assert journaled.engine.counts["invalid"] == 2


def test_a_new_session_is_journaled_and_replayed(tmp_path):
    """After a restart the engine knows the session restarted: a gap in the new numbering is still alerted."""
    def fill(n, seq):
        return {"source": "broker", "type": "partial_fill", "event_id": f"x-{n}", "order_id": "O1", "last_qty": 1,
                "last_px": 1.0, "cum_qty": 4 + n, "leaves_qty": 6 - n, "broker_ts": T0 + (10 + n) * MS,
                "recv_ts": T0 + (11 + n) * MS, "broker_seq": seq}
    events = life_cycle()[:4]
    events[2]["broker_seq"], events[3]["broker_seq"] = 7, 8
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        journaled.submit(copies(events))
        journaled.new_session()
        journaled.submit([fill(1, 1)])
        journaled.answered()
    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:  # replayed from the journal: no checkpoint yet
        [(decision, alerts)] = journaled.submit([fill(2, 3)])
    assert decision["verdict"] == "accept"
    assert [a["kind"] for a in alerts] == ["sequence_gap"]
    assert "from 1 to 3" in alerts[0]["detail"]
