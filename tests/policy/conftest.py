from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REFERENCE = Path(__file__).resolve().parents[2] / "rules" / "multileg_options.yaml"


def reference_text() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def reference_data() -> dict[str, Any]:
    return yaml.safe_load(reference_text())


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def walk(value: Any, path: tuple = ()):
    """Every (path, value) in a nested document, containers included, parents first."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from walk(item, path + (key,))


@pytest.fixture
def policy_data() -> dict[str, Any]:
    return copy.deepcopy(reference_data())
