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


def test_a_definition_is_validated_once_and_an_invalid_one_always_refused(sandbox: object) -> None:
    """sfn_definitions remembers definitions that parsed; one that does not is InvalidDefinition every time."""
    import json

    import pytest
    from botocore.exceptions import ClientError

    from cpctl.sandbox.moto_patches import sfn_definitions

    sfn = sandbox.client("stepfunctions")  # type: ignore[attr-defined]
    role = "arn:aws:iam::123456789012:role/sandbox-probe"
    valid = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    invalid = json.dumps({"StartAt": "Missing", "States": {"Done": {"Type": "Nope", "End": True}}})
    sfn.create_state_machine(name="probe-1", definition=valid, roleArn=role)
    assert valid in sfn_definitions._VALID
    sfn.create_state_machine(name="probe-2", definition=valid, roleArn=role)
    for attempt in range(2):
        with pytest.raises(ClientError) as refused:
            sfn.create_state_machine(name=f"probe-bad-{attempt}", definition=invalid, roleArn=role)
        # moto answers its parser's InvalidDefinition with status 400 and an empty code (AWS: InvalidDefinition)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "mismatched input" in refused.value.response["Error"]["Message"]
    assert invalid not in sfn_definitions._VALID
