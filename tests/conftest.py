"""Hypothesis: CI replays a fixed set of examples; runs elsewhere explore new ones.

A property that finds a new failing example in CI would fail a change that did not
cause it. With ``CI`` set (``.ci/run`` sets it), examples are derandomized; without
it, every run draws fresh ones and keeps any failure in ``.hypothesis/`` to replay.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser):
    parser.addoption("--differential-events", type=int, default=20_000,
                     help="events in the simulated log the differential test replays through every engine")
