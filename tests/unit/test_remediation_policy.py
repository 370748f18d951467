"""The remediation policy model: the shipped policies load; bad policies are refused with clear errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from controlplane.models.errors import InvalidPolicy
from controlplane.remediation.policy import load_remediation_policy, parse_remediation_policy

NG = {"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "general"}
CAP = {"max_actions": 3, "window_seconds": 3600}


def base() -> dict[str, Any]:
    return {
        "environment": "dev",
        "alarms": {
            "sip-dev-eks-cpu-high": {
                "action": {"type": "scale", "resource": NG, "by": 2},
                "cooldown_seconds": 600,
                "cap": CAP,
            },
            "sip-dev-eks-cpu-low": {
                "action": {"type": "scale", "resource": NG, "by": -1},
                "cooldown_seconds": 1800,
                "quiet_seconds": 1800,
                "cap": {"max_actions": 1, "window_seconds": 21600},
            },
        },
        "alerts": {"HighErrorRate": {"action": {"type": "notify"}, "cooldown_seconds": 900, "cap": CAP}},
    }


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_shipped_policies_are_valid(environment: str) -> None:
    policy = load_remediation_policy(environment)
    assert all(name.startswith(f"sip-{environment}-") for name in policy.alarms)
    assert policy.alerts["HighErrorRate"].action.type == "notify"


def test_a_valid_policy_parses() -> None:
    policy = parse_remediation_policy(base())
    rule = policy.rule_for("cloudwatch", "sip-dev-eks-cpu-low")
    assert rule is not None and rule.action.scale_in and rule.resource_key == "nodegroup#sip-dev/general"
    assert policy.rule_for("alertmanager", "HighErrorRate") is not None
    assert policy.rule_for("cloudwatch", "HighErrorRate") is None


def mutate(path: list[str | int], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(base())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


HIGH = ["alarms", "sip-dev-eks-cpu-high"]
LOW = ["alarms", "sip-dev-eks-cpu-low"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (mutate([*LOW, "action", "by"], -2), "scale-in moves one step at a time"),
        (mutate([*LOW, "cooldown_seconds"], 600), "scale-in needs cooldown_seconds >= 1800"),
        (mutate([*LOW, "quiet_seconds"], KeyError), "scale-in needs quiet_seconds >= 1800"),
        (mutate([*HIGH, "action", "by"], 0), "'by' must not be 0"),
        (mutate([*HIGH, "action", "by"], 9), "above the largest automatic step"),
        (mutate([*HIGH, "action", "resource"], {"kind": "toaster"}), "unknown resource kind 'toaster'"),
        (mutate([*HIGH, "action", "resource"], {"kind": "nodegroup", "cluster": "sip-dev"}), "nodegroup"),
        (mutate([*HIGH, "action", "type"], "reboot"), "action.type"),
        (mutate([*HIGH, "action"], {"type": "notify", "by": 1}), "a notify action takes no resource"),
        (mutate([*HIGH, "action"], {"type": "scale", "by": 1}), "a scale action needs a 'resource'"),
        (
            mutate([*HIGH, "action"], {"type": "grow_storage", "resource": NG, "percent": 20}),
            "grow_storage acts on kind 'rds_storage'",
        ),
        (
            mutate(
                [*HIGH, "action"],
                {"type": "grow_storage", "resource": {"kind": "rds_storage", "db_instance": "db1"}, "percent": 5},
            ),
            "greater than or equal to 10",
        ),
        (
            mutate(
                [*HIGH, "action"], {"type": "scale", "resource": {"kind": "rds_storage", "db_instance": "db1"}, "by": 1}
            ),
            "storage only grows",
        ),
        (mutate([*HIGH, "cap", "window_seconds"], 300), "the cap could never bind"),
        (mutate([*HIGH, "cooldown_seconds"], 5), "cooldown_seconds"),
        (mutate([*HIGH, "trigger"], "INSUFFICIENT_DATA"), "trigger"),
        (mutate([*HIGH, "surprise"], True), "surprise"),
        (mutate(["environment"], "staging"), "alarms of another environment"),
        (
            mutate([*LOW, "quiet_seconds"], 1800)
            | {
                "alarms": {
                    **base()["alarms"],
                    "sip-dev-eks-memory-high": {
                        "action": {"type": "scale", "resource": NG, "by": 1},
                        "cooldown_seconds": 3600,
                        "cap": CAP,
                    },
                }
            },
            "shorter than the scale-out cooldown",
        ),
        (mutate(["alarms", "sip-dev-Bad_Name"], base()["alarms"]["sip-dev-eks-cpu-high"]), "sip-dev-Bad_Name"),
    ],
)
def test_bad_policies_are_refused_with_the_reason(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPolicy) as raised:
        parse_remediation_policy(data)
    assert message in str(raised.value)
    assert str(raised.value).startswith("remediation policy is invalid: ")
