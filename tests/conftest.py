"""Shared test configuration."""

import logging
import os

from hypothesis import Phase, settings

settings.register_profile("ci", deadline=None, print_blob=True)
# For tests/core/mutation_check.py: find a failure, do not spend minutes shrinking it.
settings.register_profile(
    "mutation", settings.get_profile("ci"), phases=[Phase.explicit, Phase.reuse, Phase.generate]
)
settings.load_profile(os.environ.get("CRYOCTL_HYPOTHESIS_PROFILE", "ci"))
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
