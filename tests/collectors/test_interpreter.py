"""The tap's interpreter settings apply while it runs and are undone when the last user leaves."""

from __future__ import annotations

import gc
import sys

from collectors.interpreter import GC_THRESHOLDS, SWITCH_INTERVAL, throughput_settings


def test_settings_apply_while_in_use_and_are_restored_after_the_last_user() -> None:
    before = (gc.get_threshold(), sys.getswitchinterval())
    with throughput_settings():
        assert gc.get_threshold()[0] >= GC_THRESHOLDS[0]
        assert sys.getswitchinterval() <= SWITCH_INTERVAL
        with throughput_settings():  # a second tap in the same process
            pass
        assert gc.get_threshold()[0] >= GC_THRESHOLDS[0]  # still one user
    assert (gc.get_threshold(), sys.getswitchinterval()) == before
