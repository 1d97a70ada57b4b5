"""Compiling: deterministic bytes, a hash that tracks meaning and nothing else."""

import copy
import json
import random
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeguards import CompiledPolicy, CompiledPolicyError, PolicyError, compile_text, load_policy

from .conftest import REFERENCE, dump, reference_data, reference_text, walk

# Lists whose order carries no meaning: reordering them must not change the hash.
SET_LIKE = {
    ("ordering", "states"), ("ordering", "terminal"), ("ordering", "transitions"), ("ordering", "late_fills", "after"),
    ("idempotency", "key"), ("idempotency", "ignore_fields"), ("escalation",), ("promotion", "gates"),
}


def test_reference_policy_identity_and_tables():
    policy = compile_text(reference_text(), str(REFERENCE))
    assert policy.identity == f"multileg_options@1#{policy.hash[:12]}"
    t = policy.tables
    assert t["ordering"]["transitions"]["pending_new"]["filled"] == "fill_before_ack"
    assert t["ordering"]["transitions"]["pending_cancel"]["filled"] == "fill_races_cancel"
    assert t["ordering"]["stage"]["new"] < t["ordering"]["stage"]["partially_filled"]
    assert t["ordering"]["event_state"]["cancel_rejected"] == "revert"
    assert t["ordering"]["event_state"]["done_for_day"] == "done_for_day" and "done_for_day" in t["ordering"]["terminal"]
    assert t["idempotency"] == {
        "key": ["account", "event_id"], "window_ns": 86_400 * 10**9, "max_keys": 1_000_000,
        "ignore_fields": ["broker_seq", "poss_dup", "recv_ts", "seq"],
    }
    assert t["severities"]["conflicting_duplicate"] == "critical" and t["severities"]["ack_timeout"] == "warning"
    assert t["hedging"]["max_depth"] == 2 and t["hedging"]["liquidity_fraction"] == 0.5
    assert t["hedging"]["quote_max_age_ns"] == 2 * 10**9
    assert t["clock"] == {"max_skew_ns": 500 * 10**6, "offset_window_ns": 60 * 10**9, "future_tolerance_ns": 100 * 10**6,
                          "timeouts_ns": {"ack": 5 * 10**9, "cancel": 5 * 10**9, "replace": 5 * 10**9, "fill": None}}
    halts = {r["id"]: r for r in t["escalation"]}
    assert halts["halt_on_illegal_after_terminal"]["after_terminal"] is True
    assert halts["reduce_on_clock_skew"] == {"id": "reduce_on_clock_skew", "alerts": ["clock_skew"], "after_terminal": False,
                                             "min_severity": None, "scope": "session", "to": "reducing",
                                             "clear_after_ns": 120 * 10**9}
    assert all(r["to"] == "halted" and r["scope"] == "group" for r in t["escalation"] if r["id"] != "reduce_on_clock_skew")


def test_artifact_round_trips_and_is_byte_identical(tmp_path):
    first = compile_text(reference_text(), "a.yaml")
    second = compile_text(reference_text(), "b.yaml")
    assert first.to_json() == second.to_json()
    path = tmp_path / "p.json"
    first.write(path)
    again = load_policy(path)
    assert again.tables == first.tables and again.identity == first.identity


def test_tampered_artifact_is_refused(tmp_path):
    tables = json.loads(compile_text(reference_text()).to_json())
    tables["hedging"]["max_depth"] = 9
    path = tmp_path / "p.json"
    path.write_text(json.dumps(tables))
    with pytest.raises(CompiledPolicyError, match="does not match its hash"):
        load_policy(path)


def test_unknown_compiled_format_is_refused():
    tables = json.loads(compile_text(reference_text()).to_json())
    tables["compiled_format"] = 99
    with pytest.raises(CompiledPolicyError, match="recompile"):
        CompiledPolicy.from_json(json.dumps(tables))


def test_missing_file_is_a_located_problem(tmp_path):
    with pytest.raises(PolicyError, match="no such file"):
        load_policy(tmp_path / "nope.yaml")


def _shuffled(value: Any, rng: random.Random, path: tuple = ()) -> Any:
    if isinstance(value, dict):
        items = [(k, _shuffled(v, rng, path + (k,))) for k, v in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        items = [_shuffled(v, rng, path + ("*",)) for v in value]
        generic = tuple(p for p in path)
        if generic in SET_LIKE or (len(path) >= 2 and path[-1] in ("from", "to", "alerts")) or path[:2] == ("ordering", "progression") and len(path) == 3:
            rng.shuffle(items)
        return items
    return value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), flow=st.sampled_from([False, True, None]), indent=st.sampled_from([2, 4, 6]),
       quoting=st.sampled_from([None, '"']))
def test_hash_survives_reformatting_and_reordering(seed, flow, indent, quoting):
    original = compile_text(reference_text())
    data = _shuffled(reference_data(), random.Random(seed))
    text = "# a comment that means nothing\n" + yaml.safe_dump(
        data, sort_keys=False, default_flow_style=flow, indent=indent, default_style=quoting, width=60, allow_unicode=True
    ) + "# trailing comment\n"
    assert compile_text(text).hash == original.hash


def _mutated(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2
    if isinstance(value, str) and value and value[-1] in "smh" and value[0].isdigit():
        return value + "1ms"
    return value + "x"


def test_every_change_of_value_changes_the_hash():
    base = reference_data()
    original = compile_text(dump(base)).hash
    changed = 0
    for path, value in walk(base):
        if isinstance(value, (dict, list)):
            continue
        data = copy.deepcopy(base)
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = _mutated(value)
        try:
            policy = compile_text(dump(data))
        except PolicyError:
            continue  # e.g. a renamed state reference: rightly refused
        assert policy.hash != original, f"changing {path} did not change the hash"
        changed += 1
    assert changed >= 30


def test_omitted_severities_take_the_schema_defaults():
    data = reference_data()
    explicit = compile_text(dump(data)).tables["severities"]
    del data["severities"]
    assert compile_text(dump(data)).tables["severities"] == explicit


def test_a_severity_can_be_raised():
    data = reference_data()
    data["severities"]["stale_quote"] = "critical"
    assert compile_text(dump(data)).tables["severities"]["stale_quote"] == "critical"


def test_dropping_an_escalation_rule_changes_the_hash():
    data = reference_data()
    original = compile_text(dump(data)).hash
    data["escalation"].pop()
    assert compile_text(dump(data)).hash != original
