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


def pytest_configure(config):
    """Every test signs promotions with one throwaway key pair, never the user's own keys (~/.config/safeguards)."""
    import atexit
    import shutil
    import tempfile

    from safeguards.signing import SIGNING_KEY_ENV, TRUSTED_KEYS_ENV, init_keys

    folder = tempfile.mkdtemp(prefix="safeguards-test-keys-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # not left in /tmp after the run
    private, _, _ = init_keys(os.path.join(folder, "signing.key"), os.path.join(folder, "trusted"))
    os.environ[SIGNING_KEY_ENV] = str(private)
    os.environ[TRUSTED_KEYS_ENV] = os.path.join(folder, "trusted")
