"""The sandbox's patches of moto internals: they must all still apply to the pinned moto."""

from __future__ import annotations

import re

import moto

from cpctl.sandbox import moto_patches
from tests.conftest import REPO


def test_every_patch_target_resolves() -> None:
    assert moto_patches.verify() == []


def test_moto_is_pinned_where_the_patches_expect_it() -> None:
    assert moto.__version__ == moto_patches.PINNED_MOTO
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(rf'"moto\[[^\]]*\]=={re.escape(moto_patches.PINNED_MOTO)}"', pyproject)
    assert f"moto=={moto_patches.PINNED_MOTO}" in (REPO / "constraints.txt").read_text().splitlines()


def test_applying_twice_is_harmless() -> None:
    moto_patches.apply_all()
    moto_patches.apply_all()
    assert moto_patches.verify() == []


def test_waits_are_instant_and_counted(sandbox: object) -> None:
    from cpctl.sandbox.moto_patches import clock

    before = clock.waited_seconds["retry_intervals"]
    sandbox.state.inject("eks", "UpdateNodegroupConfig", "ThrottlingException", times=5)  # type: ignore[attr-defined]
    report = sandbox.run(  # type: ignore[attr-defined]
        "ScaleStateMachine",
        {
            "resource": {"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "general"},
            "desired": 4,
            "reason": "retry interval check",
            "requester": {"type": "person", "id": "test"},
        },
    )
    assert report.outcome == "Succeeded"
    assert clock.waited_seconds["retry_intervals"] > before  # the ASL Retry asked to wait; nobody did
    assert report.duration_seconds < 30
