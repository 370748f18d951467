"""The one Logger and Metrics of the control plane (Powertools), made once per process; tracing.

Log level comes from the standard POWERTOOLS_* environment variables set in the template's Globals.
Service and namespace are fixed here too: Powertools reads them when these objects are made, which
may be before a handler's environment exists (a test importing the layer, the sandbox), and a metric
without a namespace cannot be flushed at all.

Tracing (docs/adr/0004-tracing.md): functions and state machines run with X-Ray *Active* tracing, so
every execution, state, invocation and cold start is traced by the services themselves. The X-Ray
SDK (Powertools' Tracer) would add subsegments for the AWS calls inside a handler, but importing it
costs about 130 ms and two botocore clients on every cold start, and nearly every invocation here is
a cold start; it is imported only where ``CONTROLPLANE_XRAY_SDK=true``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

SERVICE = "controlplane"
NAMESPACE = "SIP/ControlPlane"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)


def _traced(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The handler with X-Ray SDK subsegments, when asked for; otherwise as it is (Active tracing still on)."""
    if os.environ.get("CONTROLPLANE_XRAY_SDK", "").lower() != "true":
        return handler
    from aws_lambda_powertools import Tracer

    traced: Callable[..., Any] = Tracer(service=SERVICE).capture_lambda_handler(capture_response=False)(handler)
    return traced


def task_handler(step: Callable[[Any], Any]) -> Callable[[dict[str, Any], LambdaContext], Any]:
    """Wrap a domain entry point as a Lambda handler: context in logs, metrics flushed, traced.

    Models are returned as JSON-ready dicts; domain errors propagate so Step Functions sees their names.
    The execution (when the event names one) is the logs' correlation id.
    """

    @logger.inject_lambda_context(log_event=False)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
        logger.set_correlation_id(_execution_of(event))
        result = step(event)
        return result.model_dump(mode="json") if isinstance(result, BaseModel) else result

    return cast("Callable[[dict[str, Any], LambdaContext], Any]", _traced(lambda_handler))


def _execution_of(event: Any) -> str | None:
    """The Step Functions execution an event belongs to (the correlation id of its logs), if it says."""
    if not isinstance(event, dict):
        return None
    for candidate in (event, event.get("state"), (event.get("state") or {}).get("request")):
        if isinstance(candidate, dict) and isinstance(candidate.get("execution"), str):
            return str(candidate["execution"])
    return None


# --- metrics: what the control plane emits (namespace SIP/ControlPlane), and where people see it ------


class MetricSpec(BaseModel):
    """One metric: its dimensions besides ``service``, its unit, and where it is shown (``dashboard``, or
    why it is not). ``tests/infra/test_dashboard.py`` holds the dashboard in the template to this list."""

    dimensions: tuple[str, ...]
    unit: str
    shown: str = "dashboard"


_ACTION = ("Workflow", "Kind")
# Outcome statuses (controlplane.models.outcome.OutcomeStatus) as counts per workflow; the remediation
# entry point's decisions and the Remediation workflow's ends as counts (the names they had before this
# catalog: an alarm in the template reads RemediationFailed).
METRICS: dict[str, MetricSpec] = {
    **{
        f"Outcome{status}": MetricSpec(dimensions=("Workflow",), unit="Count")
        for status in ("Succeeded", "NoChange", "DryRun", "Blocked", "Rejected", "TimedOut", "Failed")
    },
    "ActionsApplied": MetricSpec(dimensions=_ACTION, unit="Count"),
    "ActionsBlocked": MetricSpec(dimensions=_ACTION, unit="Count"),
    "ActionsFailed": MetricSpec(dimensions=_ACTION, unit="Count"),
    "ActionsSuppressed": MetricSpec(dimensions=_ACTION, unit="Count"),
    "ActionsDryRun": MetricSpec(dimensions=_ACTION, unit="Count"),
    "ActionsNoChange": MetricSpec(dimensions=_ACTION, unit="Count"),
    "ActionDuration": MetricSpec(dimensions=_ACTION, unit="Seconds"),
    "GuardTrips": MetricSpec(dimensions=("Workflow", "Guard"), unit="Count"),
    "RemediationLatency": MetricSpec(dimensions=("Kind",), unit="Seconds"),
    "CapacityChange": MetricSpec(
        dimensions=("Workflow",),
        unit="Count",
        shown="not on the dashboard: a signed sum of sizes across kinds means little; the audit has each change",
    ),
    **{
        f"Remediation{status}": MetricSpec(dimensions=(), unit="Count")
        for status in ("Admitted", "Suppressed", "Ignored", "Rejected", "Failed", "Remediated", "Notified", "Escalated")
    },
    "RemediationSweepWaiting": MetricSpec(dimensions=(), unit="Count"),
    # PlatformDeploy's drift check found the platform differing from the code (deploy/steps.py).
    "PlatformDrift": MetricSpec(dimensions=("Workflow",), unit="Count"),
    # Restore drills (backup/drill.py) and cleanup runs (cleanup/report.py); recorded before audit.record in
    # the same invocation, so they carry its Workflow dimension too.
    "RestoreDrillRTO": MetricSpec(dimensions=("Workflow",), unit="Seconds"),
    "RestoreDrillRPO": MetricSpec(dimensions=("Workflow",), unit="Seconds"),
    "CleanupDeleted": MetricSpec(dimensions=("Workflow",), unit="Count"),
    "CleanupPlannedDeletions": MetricSpec(dimensions=("Workflow",), unit="Count"),
}

# How an outcome counts as an action (a change the control plane made, refused, or could not make).
ACTION_OF_STATUS = {
    "Succeeded": "ActionsApplied",
    "Blocked": "ActionsBlocked",
    "Failed": "ActionsFailed",
    "TimedOut": "ActionsFailed",
    "Rejected": "ActionsFailed",
    "DryRun": "ActionsDryRun",
    "NoChange": "ActionsNoChange",
}


def emit(name: str, value: float, **dimensions: str) -> None:
    """One EMF metric with its own dimensions (``service`` plus the catalog's), written at once.

    Powertools' shared ``metrics`` object has one dimension set per flush; metrics by kind, by guard and
    by workflow need several, so each gets its own EMF record (``single_metric``).
    """
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    spec = METRICS[name]
    if set(dimensions) != set(spec.dimensions):
        raise ValueError(f"{name} takes dimensions {spec.dimensions}, not {sorted(dimensions)}")
    with single_metric(
        name=name,
        unit=MetricUnit(spec.unit),
        value=value,
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE,
        default_dimensions={"service": SERVICE},
    ) as metric:
        for key in spec.dimensions:
            metric.add_dimension(name=key, value=dimensions[key][:250] or "unknown")
