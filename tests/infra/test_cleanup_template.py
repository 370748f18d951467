"""The Cleanup and Cost review workflows against their limits, checked on template.yaml and the ASL.

Step Functions quotas: "Maximum execution history size: 25,000 events" (standard workflows) and "Maximum
input or output size for a task, state, or execution: 256 KiB". Lambda: "Invocation payload (request and
response): 6 MB synchronous" (the state's 256 KiB is the tighter). S3 requests are not authorized by the sandbox
(docs/sandbox.md), so the S3 grants are checked here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controlplane.cleanup.policy import (
    HISTORY_EVENTS_PER_BATCH,
    HISTORY_EVENTS_PER_UNIT,
    HISTORY_FIXED_EVENTS,
    HISTORY_LIMIT,
    HISTORY_RETRY_RESERVE,
    MAX_UNITS,
)

from cpctl.sandbox.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
CLEANUP = json.loads((ROOT / "statemachines" / "cleanup.asl.json").read_text())
# Events a state writes on the happy path (execution history event types of each state type).
EVENTS = {"Task": 5, "Choice": 2, "Pass": 2, "Succeed": 2, "Map": 4}


def _path(states: dict[str, Any], start: str, choose: dict[str, str]) -> list[str]:
    """The states entered from ``start``, taking ``choose[choice]`` at each Choice (default: Default)."""
    found, name = [], start
    while name:
        found.append(name)
        state = states[name]
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            break
        name = choose.get(name) or state.get("Next") or state.get("Default")
    return found


def test_the_history_estimate_matches_the_state_machine() -> None:
    iterator = CLEANUP["States"]["DeleteUnits"]["Iterator"]["States"]
    # One unit with no batch: LockUnit -> UnitDone? (done) -> HasLease? -> ReleaseUnit -> UnitEnd
    unit = _path(iterator, "LockUnit", {"UnitDone?": "HasLease?", "HasLease?": "ReleaseUnit"})
    assert unit == ["LockUnit", "UnitDone?", "HasLease?", "ReleaseUnit", "UnitEnd"]
    per_unit = 2 + sum(EVENTS[iterator[s]["Type"]] for s in unit)  # + MapIterationStarted / Succeeded
    per_batch = EVENTS[iterator["DeleteBatch"]["Type"]] + EVENTS[iterator["UnitDone?"]["Type"]]
    assert iterator["DeleteBatch"]["Next"] == "UnitDone?"
    top = _path(CLEANUP["States"], "Plan", {"Proceed?": "DeleteUnits", "Failed?": "Finished"})
    fixed = 2 + sum(EVENTS[CLEANUP["States"][s]["Type"]] for s in top)  # + ExecutionStarted / Succeeded
    assert per_unit == HISTORY_EVENTS_PER_UNIT and per_batch == HISTORY_EVENTS_PER_BATCH
    assert fixed <= HISTORY_FIXED_EVENTS
    assert HISTORY_LIMIT == 25_000 and HISTORY_RETRY_RESERVE >= 3 * 1_000


def test_the_map_is_bounded() -> None:
    deletes = CLEANUP["States"]["DeleteUnits"]
    assert deletes["Type"] == "Map" and 1 <= deletes["MaxConcurrency"] <= 10
    assert deletes["ResultPath"] is None  # iteration outputs never pile up in the state
    assert MAX_UNITS <= 1_000
    retry = deletes["Iterator"]["States"]["DeleteBatch"]["Retry"][0]
    assert "TransientAwsError" in retry["ErrorEquals"] and retry["MaxAttempts"] >= 3 and retry["BackoffRate"] > 1


def test_every_path_after_the_lock_releases_the_unit_lease() -> None:
    iterator = CLEANUP["States"]["DeleteUnits"]["Iterator"]["States"]
    for name in ("LockUnit", "DeleteBatch"):
        targets = {c["Next"] for c in iterator[name]["Catch"]}
        assert targets <= {"UnitFailed", "DeferUnit"}
    assert iterator["UnitFailed"]["Next"] == "HasLease?" and iterator["UnitFailed"]["Catch"][0]["Next"] == "HasLease?"
    assert iterator["ReleaseUnit"]["Resource"] == "arn:aws:states:::dynamodb:deleteItem"
    assert "cleanup/{}" in json.dumps(iterator["ReleaseUnit"]["Parameters"])
    assert CLEANUP["States"]["DeleteUnits"]["Catch"][0]["Next"] == "ReleaseAll"


def _statements(logical_id: str) -> list[dict[str, Any]]:
    found = []
    for policy in RESOURCES[logical_id]["Properties"].get("Policies", []):
        found += policy.get("Statement", []) if isinstance(policy, dict) else []
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _resources(statement: dict[str, Any]) -> list[str]:
    resource = statement["Resource"]
    items = resource if isinstance(resource, list) else [resource]
    return [json.dumps(item) for item in items]


def test_s3_and_delete_grants_are_scoped() -> None:
    for function in ("CleanupFunction", "DeleteArtifactsFunction", "ReviewCostFunction"):
        for statement in _statements(function):
            for action in _actions(statement):
                assert action != "s3:*" and not action.endswith(":*")
                if action in ("s3:PutObject", "s3:GetObject"):
                    assert all("/reports/cleanup/*" in r or "/reports/cost/*" in r for r in _resources(statement))
                if action == "s3:DeleteObject":
                    assert all("/elasticache/*" in r for r in _resources(statement))
                if action in ("rds:DeleteDBSnapshot", "elasticache:DeleteSnapshot"):
                    assert all(":snapshot:cp-*" in r for r in _resources(statement)), action
                if action == "rds:DeleteDBInstance":
                    assert all(":db:drill-*" in r or "-cp-*" in r for r in _resources(statement))
    deleters = {
        a for s in _statements("DeleteArtifactsFunction") for a in _actions(s) if "Delete" in a and "dynamodb" not in a
    }
    assert deleters == {"rds:DeleteDBSnapshot", "rds:DeleteDBInstance", "elasticache:DeleteSnapshot", "s3:DeleteObject"}
    planners = {a for s in _statements("CleanupFunction") for a in _actions(s)}
    assert not {a for a in planners if a.startswith(("rds:Delete", "elasticache:Delete", "s3:Delete"))}
