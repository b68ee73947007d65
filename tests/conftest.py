"""Test-wide settings.

Hypothesis draws its examples from a fixed seed by default, so that a run of the suite (and CI, where a red
run means nothing lands) gives the same answer every time; a property that fails once fails every time.  To
explore new examples, run with ``HYPOTHESIS_PROFILE=explore`` (random seed, every run different); a failure
found that way prints the example, which then belongs in a unit test.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
