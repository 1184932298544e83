"""The fuzzing budget: small and reproducible in CI, as large as you like locally.

* ``CI`` set (CI runs ``CI=true bash .ci/run``): a fixed number of examples, derandomized, so a
  run is the same run every time and stays within a few seconds per database.
* ``CONNLOGS_FUZZ_EXAMPLES=N``: N examples per fuzz test (scaled per test) for a long local
  hunt, e.g. ``CONNLOGS_FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/fuzz``.
* A local failure prints its seed: replay it with ``--hypothesis-seed=N``.

Hypothesis keeps no example database here (``database=None``): nothing is written to the
work tree, and a failure is reproduced from the seed or the printed falsifying example.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

IN_CI = bool(os.environ.get("CI"))
DEFAULT_EXAMPLES = 40


def budget(scale: float = 1.0) -> int:
    """Examples for one fuzz test: the base budget times ``scale`` (at least 5)."""
    base = int(os.environ.get("CONNLOGS_FUZZ_EXAMPLES") or DEFAULT_EXAMPLES)
    return max(5, int(base * scale))


def fuzz_settings(scale: float = 1.0) -> settings:
    return settings(
        max_examples=budget(scale),
        derandomize=IN_CI,
        deadline=None,
        database=None,
        print_blob=True,
        # The data set is built once per test (a function-scoped fixture) and only read.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
