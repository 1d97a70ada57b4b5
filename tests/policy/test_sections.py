"""The guards' sections, declared once: the schema, the compiler, the checks and explain all come from the registry."""

from __future__ import annotations

from importlib import resources

from safeguards.policy import schema_text
from safeguards.policy.checks import duration_paths
from safeguards.policy.sections import GUARD_SECTIONS
from tests.eventkit import REFERENCE, reference_policy


def test_the_schema_file_editors_read_is_made_of_the_sections() -> None:
    committed = resources.files("safeguards.policy").joinpath("policy.schema.json").read_text("utf-8")
    assert committed == schema_text(), ("policy.schema.json is out of date with its parts: "
                                        "run `safeguards schema > safeguards/policy/policy.schema.json`")


def test_every_guard_section_compiles_explains_and_places_its_durations() -> None:
    import yaml

    written = yaml.safe_load(REFERENCE.read_text("utf-8"))
    tables = reference_policy().tables
    assert [section.name for section in GUARD_SECTIONS] == ["ordering", "idempotency", "intents", "hedging", "clock"]
    for section in GUARD_SECTIONS:
        assert section.schema["type"] == "object" and section.name in written
        assert tables[section.name] == section.compile(written[section.name])
        explained = section.explain(tables)
        assert explained[0].endswith(f"({section.name})") and len(explained) > 1
    paths = set(duration_paths(written))
    assert {("idempotency", "window"), ("hedging", "quote_max_age"), ("clock", "max_skew"),
            ("clock", "timeouts", "ack"), ("escalation", 6, "clear_after")} <= paths


def test_each_alert_kind_s_default_severity_is_declared_by_the_guard_that_raises_it() -> None:
    import json

    from safeguards import Engine

    declared = {alert.kind: section.name for section in GUARD_SECTIONS for alert in section.alerts}
    assert len(declared) == sum(len(section.alerts) for section in GUARD_SECTIONS)  # each kind once
    policy = reference_policy()
    assert set(policy.tables["severities"]) == set(declared)
    engine = Engine(policy)
    raised: dict[str, set[str]] = {}
    for line in (REFERENCE.parents[1] / "data" / "sample.jsonl").read_text("utf-8").splitlines():
        engine.process(json.loads(line))
        for alert in engine.pop_alerts():
            raised.setdefault(alert["kind"], set()).add(alert["guard"])
    configurable = {kind: guards for kind, guards in raised.items() if kind in declared}
    assert len(configurable) >= 8  # the sample's faults raise most kinds
    for kind, guards in configurable.items():
        assert guards == {declared[kind]}, (kind, guards)
