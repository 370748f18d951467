"""The Scale workflow when the Lambda that makes the change dies around the mutating call, and when
EKS itself ends an update badly: end to end in the sandbox, real ASL and handlers.

Lambda's own words: a function that times out is stopped ("Task timed out"), whatever it had sent
to AWS stands; Step Functions retries the Task per its Retry (Sandbox.Timedout, Lambda.Unknown).
EKS API reference, DescribeUpdate: an update's status is InProgress, Failed, Cancelled or Successful,
with ``errors`` when it did not succeed; a failed node group update leaves the old scaling config.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import load_event

pytestmark = pytest.mark.sandbox
SCALE = "ScaleStateMachine"


def _desired(sandbox: Any) -> int:
    return int(sandbox.nodegroup("general")["scalingConfig"]["desiredSize"])


def test_apply_timed_out_after_the_change_is_retried_and_changes_once(sandbox: Any) -> None:
    interrupt = sandbox.interrupt_state(SCALE, "Apply", "Sandbox.Timedout", after=("eks", "UpdateNodegroupConfig"))
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert interrupt.taken == 1
    assert report.outcome == "Succeeded", (report.error, report.cause)
    assert report.calls("UpdateNodegroupConfig") == 1  # the retry found the change made, by its intent
    assert _desired(sandbox) == 5
    assert sandbox.lock_items() == []
    assert [a["status"] for a in sandbox.audit_items()] == ["Succeeded"]


def test_apply_that_never_answers_fails_says_it_may_be_applied_and_keeps_the_cooldown(sandbox: Any) -> None:
    """One attempt dies right after the call, every other one before its handler runs: the retries run
    out, the run fails, the record says the change may have been made (the node group is read after the
    error), the lease is released, and the intent written before the call still counts: a second request
    inside the cooldown is Blocked."""
    apply, sent_by_apply = sandbox.task_of_state(SCALE, "Apply")
    first = sandbox.state.interrupt(
        apply, "Sandbox.Timedout", after=("eks", "UpdateNodegroupConfig"), matches=sent_by_apply
    )
    retries = sandbox.state.interrupt(
        apply, "Sandbox.Timedout", times=10, matches=lambda event: sent_by_apply(event) and first.taken == 1
    )
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert report.status == "FAILED"
    assert report.error == "Sandbox.Timedout"
    assert (first.taken, retries.taken) == (1, 5)  # Apply's Retry: five more attempts
    assert "ObserveAfterError" in report.states_entered and "ReleaseLease" in report.states_entered
    assert sandbox.lock_items() == []
    assert _desired(sandbox) == 5  # EKS made the change though no answer came back
    [audit] = sandbox.audit_items()
    assert audit["status"] == "Failed"
    assert "may have been applied" in str(audit["reason"]) or "may have been applied" in str(audit.get("error"))
    again = sandbox.run(SCALE, {**load_event("scale/nodegroup_scale_up.json"), "desired": 6})
    assert again.outcome == "Blocked", (again.outcome, again.reason)
    assert "cooldown" in again.reason
    assert again.calls("UpdateNodegroupConfig") == 0


@pytest.mark.parametrize("ended", ["Failed", "Cancelled"])
def test_an_update_eks_ends_badly_fails_the_run_with_its_errors(sandbox: Any, ended: str) -> None:
    errors = [{"errorCode": "NodeCreationFailure", "errorMessage": "Instances failed to join", "resourceIds": ["i-1"]}]
    sandbox.state.fail_next_update("sip-dev", "general", ended, errors)
    sandbox.state.hold("eks", "sip-dev/general", polls=2, status="UPDATING")
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert report.status == "FAILED", report.outcome
    assert ended in (report.cause or "") and "NodeCreationFailure" in (report.cause or "")
    assert _desired(sandbox) == 3  # EKS rolled the size back
    assert sandbox.lock_items() == []
    [note] = sandbox.notifications()
    assert "Failed" in note["Subject"]
