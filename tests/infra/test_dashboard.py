"""The CloudWatch dashboard in template.yaml against what is emitted.

- Every metric the control plane emits (``controlplane.observability.METRICS``, and every call site in
  the layer that emits one) is on the dashboard, or the catalog says why it is not.
- Every metric a widget names is one the code emits (with the catalog's dimensions: a SEARCH schema or
  a metric array with other dimensions would draw nothing) or one AWS publishes (the table below, from
  each service's CloudWatch metrics documentation).
"""

from __future__ import annotations

import ast
import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from controlplane.models.outcome import OutcomeStatus
from controlplane.observability import ACTION_OF_STATUS, METRICS

from cpctl.sandbox.template import load_template
from tests.conftest import REPO

LAYER = REPO / "layers" / "common" / "python" / "controlplane"
CUSTOM = "SIP/ControlPlane"
# Metrics AWS publishes, with the dimension each is published by, per its documentation:
# - Step Functions, "Monitoring Step Functions metrics using Amazon CloudWatch": execution metrics
#   ExecutionsStarted/Succeeded/Failed/TimedOut/Aborted "for a state machine" (dimension StateMachineArn).
# - Amazon SQS, "Available CloudWatch metrics for Amazon SQS": ApproximateNumberOfMessagesVisible,
#   ApproximateAgeOfOldestMessage (dimension QueueName).
# - Lambda, "Using CloudWatch metrics with Lambda": Errors, Throttles, Invocations, Duration (FunctionName).
AWS_METRICS: dict[str, dict[str, set[str]]] = {
    "AWS/States": {
        name: {"StateMachineArn"}
        for name in (
            "ExecutionsStarted",
            "ExecutionsSucceeded",
            "ExecutionsFailed",
            "ExecutionsTimedOut",
            "ExecutionsAborted",
            "ExecutionTime",
            "ExecutionThrottled",
        )
    },
    "AWS/SQS": {
        name: {"QueueName"} for name in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage")
    },
    "AWS/Lambda": {name: {"FunctionName"} for name in ("Errors", "Throttles", "Invocations", "Duration")},
}
_SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}(.*?)',\s*'([^']+)'")
_NAMES = re.compile(r'MetricName=(?:"([^"]+)"|\(([^)]*)\))')


def _dashboard() -> dict[str, Any]:
    resources = load_template(REPO / "template.yaml")["Resources"]
    dashboards = [spec for spec in resources.values() if spec["Type"] == "AWS::CloudWatch::Dashboard"]
    assert len(dashboards) == 1
    body = dashboards[0]["Properties"]["DashboardBody"]["Fn::Sub"]
    # ${Param} and ${Resource.Attr} become placeholders; the JSON around them must stand on its own.
    return dict(json.loads(re.sub(r"\$\{[A-Za-z0-9:.]+\}", "PLACEHOLDER", body)))


def _references() -> list[tuple[str, str, frozenset[str]]]:
    """(namespace, metric name, dimension names) of every metric a widget draws."""
    found: list[tuple[str, str, frozenset[str]]] = []
    for widget in _dashboard()["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            if isinstance(row[0], str):  # ["Namespace", "Name", "Dim", "Value", ...]
                found.append((row[0], row[1], frozenset(row[2::2][: len(row[2:]) // 2])))
                continue
            expression = row[0].get("expression", "")
            for schema, rest, _stat in _SEARCH.findall(expression):
                namespace, *dims = [part.strip() for part in schema.split(",")]
                for single, several in _NAMES.findall(rest):
                    names = [single] if single else re.findall(r'"([^"]+)"', several)
                    found += [(namespace, name, frozenset(dims)) for name in names]
    return found


def test_every_widget_metric_is_emitted() -> None:
    references = _references()
    assert references
    for namespace, name, dims in references:
        if namespace == CUSTOM:
            assert name in METRICS, f"{name}: no code emits it (controlplane.observability.METRICS)"
            assert dims == {"service", *METRICS[name].dimensions}, f"{name} is emitted with other dimensions"
        else:
            assert name in AWS_METRICS.get(namespace, {}), f"{namespace} {name}: not a metric AWS publishes"
            assert dims == AWS_METRICS[namespace][name], f"{namespace} {name} is published by other dimensions"


def test_every_emitted_metric_is_shown_or_says_why_not() -> None:
    shown = {name for namespace, name, _ in _references() if namespace == CUSTOM}
    for name, spec in METRICS.items():
        if spec.shown == "dashboard":
            assert name in shown, f"{name} is emitted but not on the dashboard (or say why in METRICS)"
        else:
            assert name not in shown and len(spec.shown) > 20, name


def _emitted_names() -> list[tuple[Path, str]]:
    """Metric names at every emitting call site in the layer: literal names, and f-string prefixes."""
    names: list[tuple[Path, str]] = []
    for path in LAYER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called not in {"add_metric", "emit", "count_metric", "single_metric"}:
                continue
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.append((path, arg.value))
            elif isinstance(arg, ast.JoinedStr):
                head = arg.values[0]
                prefix = head.value if isinstance(head, ast.Constant) else ""
                names.append((path, f"{prefix}*"))
            elif isinstance(arg, ast.Subscript) and ast.unparse(arg.value) == "ACTION_OF_STATUS":
                names.append((path, "ACTION_OF_STATUS[*]"))
            elif isinstance(arg, ast.Name):
                continue  # a wrapper passing its own parameter on (count_metric, emit): its callers are read
            else:
                pytest.fail(f"{path.name}: a metric name the catalog test cannot read: {ast.unparse(node)}")
    return names


def test_every_emitting_call_site_names_a_catalog_metric() -> None:
    from controlplane.remediation.entry import DecisionStatus
    from controlplane.remediation.finish import RemediationStatus

    families = {
        "Outcome*": {f"Outcome{s.value}" for s in OutcomeStatus},
        "Remediation*": {
            f"Remediation{s}" for s in (*typing.get_args(DecisionStatus), *typing.get_args(RemediationStatus))
        },
        "ACTION_OF_STATUS[*]": set(ACTION_OF_STATUS.values()),
    }
    assert set(ACTION_OF_STATUS) == {s.value for s in OutcomeStatus}
    sites = _emitted_names()
    assert len(sites) >= 8, sites
    for path, name in sites:
        expected = families.get(name, {name})
        missing = expected - set(METRICS)
        assert not missing, f"{path.name} emits {sorted(missing)}, which METRICS does not list"


def test_the_alarm_widget_shows_every_alarm_on_the_control_plane_itself() -> None:
    """An alarm status widget needs each alarm's ARN: every workflow's failure alarm and the dead-letter
    alarm must be listed (it showed only the first four after the newer workflows came)."""
    resources = load_template(REPO / "template.yaml")["Resources"]
    own = {
        name
        for name, spec in resources.items()
        if spec["Type"] == "AWS::CloudWatch::Alarm" and name.endswith(("FailuresAlarm", "DeadLetterAlarm"))
    }
    body = next(s for s in resources.values() if s["Type"] == "AWS::CloudWatch::Dashboard")["Properties"]
    raw = body["DashboardBody"]["Fn::Sub"]
    (widget,) = [w for w in _dashboard()["widgets"] if w["type"] == "alarm"]
    listed = set(re.findall(r"\$\{([A-Za-z0-9]+)\.Arn\}", raw[raw.index('"Control plane alarms"') :]))
    assert len(widget["properties"]["alarms"]) == len(listed) <= 100  # CloudWatch's limit per alarm widget
    assert own and own == listed, sorted(own ^ listed)
