"""Scale workflow on EKS node groups: scale-up, Blocked beyond max, dry run, two at once."""

from __future__ import annotations

from typing import Any, TextIO

from cpctl.sandbox.runtime import Sandbox
from cpctl.sandbox.scenarios import Scenario, ScenarioResult

STATE_MACHINE = "ScaleStateMachine"


def nodegroup_request(cluster: str, nodegroup: str, reason: str, **change: Any) -> dict[str, Any]:
    return {
        "resource": {"kind": "nodegroup", "cluster": cluster, "nodegroup": nodegroup},
        "reason": reason,
        "requester": {"type": "person", "id": "demo"},
        **change,
    }


def _desired(sandbox: Sandbox, nodegroup: str) -> int:
    return int(sandbox.nodegroup(nodegroup)["scalingConfig"]["desiredSize"])


def dry_run_then_scale_up(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    cluster = sandbox.tfvars["eks_cluster_name"]
    before = _desired(sandbox, "general")
    dry = sandbox.run(STATE_MACHINE, nodegroup_request(cluster, "general", "what would +2 do?", delta=2, dry_run=True))
    after_dry = _desired(sandbox, "general")
    result.reports.append(dry)
    result.expect(dry.outcome == "DryRun", f"dry run ended {dry.outcome}")
    result.expect(dry.calls("UpdateNodegroupConfig") == 0, "dry run called UpdateNodegroupConfig")
    result.expect(after_dry == before, f"dry run changed the node group {before} -> {after_dry}")
    result.notes.append(
        f"dry run: general stays at {after_dry} (plan {dry.output and dry.output.get('current')} -> "
        f"{dry.output and dry.output.get('desired')})"
    )

    # The node group takes a few polls to settle, as EKS does.
    sandbox.state.hold("eks", f"{cluster}/general", polls=3, status="UPDATING")
    up = sandbox.run(STATE_MACHINE, nodegroup_request(cluster, "general", "weekday peak", desired=5))
    result.reports.append(up)
    after = _desired(sandbox, "general")
    result.expect(up.outcome == "Succeeded", f"scale-up ended {up.outcome}: {up.reason}")
    result.expect(after == 5, f"general is at {after}, not 5")
    result.notes.append(f"scale-up: general {before} -> {after} after {up.states_entered.count('CheckProgress')} polls")
    return result


def refused_beyond_max(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    cluster = sandbox.tfvars["eks_cluster_name"]
    before = _desired(sandbox, "cpu_optimized")
    blocked = sandbox.run(STATE_MACHINE, nodegroup_request(cluster, "cpu_optimized", "too far", desired=12))
    result.reports.append(blocked)
    result.expect(blocked.status == "SUCCEEDED" and blocked.outcome == "Blocked", f"ended {blocked.outcome}")
    result.expect("above the maximum" in blocked.reason, f"reason does not name the bound: {blocked.reason}")
    result.expect(blocked.calls("UpdateNodegroupConfig") == 0, "a Blocked change called UpdateNodegroupConfig")
    result.expect(_desired(sandbox, "cpu_optimized") == before, "a Blocked change moved the node group")
    result.notes.append(f"Blocked: {blocked.reason}")
    return result


def concurrent_requests(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    cluster = sandbox.tfvars["eks_cluster_name"]
    before = _desired(sandbox, "cpu_optimized")
    sandbox.state.hold("eks", f"{cluster}/cpu_optimized", polls=5, status="UPDATING")
    first = sandbox.start_execution(STATE_MACHINE, nodegroup_request(cluster, "cpu_optimized", "batch A", delta=2))
    second = sandbox.start_execution(STATE_MACHINE, nodegroup_request(cluster, "cpu_optimized", "batch B", delta=2))
    reports = [sandbox.wait(first), sandbox.wait(second)]
    result.reports.extend(reports)
    applied = sum(r.calls("UpdateNodegroupConfig") for r in reports)
    outcomes = sorted(r.outcome for r in reports)
    after = _desired(sandbox, "cpu_optimized")
    result.expect(applied == 1, f"{applied} UpdateNodegroupConfig calls for two concurrent requests")
    # The other is refused by the lease (Blocked), or, if it got the lease after the first finished,
    # finds the group already where it wanted it (NoChange): never a second change.
    result.expect(outcomes in (["Blocked", "Succeeded"], ["NoChange", "Succeeded"]), f"outcomes {outcomes}")
    result.expect(after == before + 2, f"cpu_optimized is at {after}, expected {before + 2}")
    loser = next((r for r in reports if r.outcome != "Succeeded"), reports[-1])
    result.notes.append(f"two at once: one applied ({before} -> {after}), the other {loser.outcome}: {loser.reason}")
    return result


SCENARIOS = [
    Scenario("Scale an EKS node group: dry run, then scale up 3 -> 5", dry_run_then_scale_up),
    Scenario("Refuse a scale beyond the node group's max (Blocked)", refused_beyond_max),
    Scenario("Two concurrent requests on one node group", concurrent_requests),
]
