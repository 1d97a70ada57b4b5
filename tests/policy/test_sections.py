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
