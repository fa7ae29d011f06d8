"""Shared test settings: a hypothesis profile for CI and one for long local runs."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# CI runs are derandomized (the same examples every run: a red build is reproducible);
# `ENGAGE_HYPOTHESIS_PROFILE=long` explores new examples, thousands per test.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    deadline=None,
    max_examples=5000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("ENGAGE_HYPOTHESIS_PROFILE", "ci"))
