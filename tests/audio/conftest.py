"""The PulseAudio rig, shared by the module's tests (starting it takes ~50 ms, stopping
more), with this process's PulseAudio clients (miniaudio) pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.rig.pulse import PulseRig


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseRig]:
    rig = PulseRig(tmp_path_factory.mktemp("pulse"), sinks=("mic", "spk", "ring"))
    with rig, rig.activate():
        yield rig
