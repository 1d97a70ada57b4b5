"""The grid: each variant a compiled policy of its own; bad keys and values said where they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeguards.errors import PolicyError, UsageError
from safeguards.sweep import Vary, plan_variants

from ..backtesting import REFERENCE


def test_every_combination_is_a_compiled_policy_with_its_own_hash() -> None:
    variants = plan_variants(REFERENCE, ["hedging.max_depth=1,2,3", "idempotency.window=12h,24h"])
    assert len(variants) == 6
    assert len({v.policy.hash for v in variants}) == 6
    assert {v.settings for v in variants} == {(("hedging.max_depth", d), ("idempotency.window", w))
                                              for d in ("1", "2", "3") for w in ("12h", "24h")}
    one = next(v for v in variants if v.settings == (("hedging.max_depth", "3"), ("idempotency.window", "12h")))
    assert one.policy["hedging"]["max_depth"] == 3
    assert one.policy["idempotency"]["window_ns"] == 12 * 3600 * 10**9
    assert one.policy.identity == f"multileg_options@1#{one.policy.hash[:12]}"
    # The rest of the file is as written: its comments too, and the lines stay where they were.
    original = REFERENCE.read_text("utf-8").split("\n")
    changed = [i for i, (a, b) in enumerate(zip(original, one.text.split("\n"))) if a != b]
    assert len(one.text.split("\n")) == len(original) and len(changed) == 2


def test_the_file_as_written_is_the_variant_with_its_own_values() -> None:
    from safeguards.policy import compile_file

    variants = plan_variants(REFERENCE, ["hedging.max_depth=2"])
    assert [v.policy.hash for v in variants] == [compile_file(REFERENCE).hash]


def test_values_that_compile_to_the_same_policy_are_one_variant() -> None:
    assert len(plan_variants(REFERENCE, ["idempotency.window=24h,1440m"])) == 1


def test_a_key_not_in_the_file_is_named_with_the_nearest_one() -> None:
    with pytest.raises(UsageError, match=r"--vary hedging\.max_dept: hedging has no key 'max_dept'; "
                                         r"did you mean 'hedging\.max_depth'\?"):
        plan_variants(REFERENCE, ["hedging.max_dept=1,2"])
    with pytest.raises(UsageError, match="is a section"):
        plan_variants(REFERENCE, ["hedging=1"])
    with pytest.raises(UsageError, match="KEY=V1,V2"):
        Vary.parse("hedging.max_depth")
    with pytest.raises(UsageError, match="an empty value"):
        Vary.parse("hedging.max_depth=1,,2")


def test_a_bad_value_is_reported_at_its_line_with_the_setting() -> None:
    line = next(i for i, text in enumerate(REFERENCE.read_text("utf-8").split("\n"), 1)
                if text.strip().startswith("window: 24h"))
    with pytest.raises(PolicyError) as caught:
        plan_variants(REFERENCE, ["idempotency.window=12h,soon"])
    (problem,) = caught.value.problems
    assert problem.location is not None and (problem.location.path, problem.location.line) == (str(REFERENCE), line)
    assert problem.message.startswith("with --vary idempotency.window=soon: ")
    assert "not a duration" in problem.message


def test_a_compiled_policy_cannot_be_varied(tmp_path: Path) -> None:
    from safeguards.policy import compile_file

    compiled = tmp_path / "p.json"
    compile_file(REFERENCE).write(compiled)
    with pytest.raises(UsageError, match="give the .yaml file"):
        plan_variants(compiled, ["hedging.max_depth=1"])


def test_a_notebooks_vary_is_a_mapping_or_the_settings_as_typed() -> None:
    from safeguards.sweep import parse_varies

    expected = [Vary("hedging.max_depth", ("2", "3")), Vary("clock.max_skew", ("20ms", "500ms"))]
    assert parse_varies({"hedging.max_depth": "2,3", "clock.max_skew": ["20ms", "500ms"]}) == expected
    assert parse_varies("hedging.max_depth=2,3 clock.max_skew=20ms,500ms") == expected
    assert parse_varies("hedging.max_depth=2,3; clock.max_skew=20ms,500ms") == expected
    with pytest.raises(UsageError, match="write KEY=V1,V2"):
        parse_varies("hedging.max_depth")
