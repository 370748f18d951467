"""The contract every resource adapter fulfils, so one Scale workflow serves every kind.

An adapter knows one kind of AWS resource: how to name it (its target model),
read its capacity, plan and guard what is special to it, apply a change
idempotently, and report progress. Everything else (validation, generic
guards, locks, cooldowns, audit, the state machine) is shared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from controlplane import aws
from controlplane.config import Policy
from controlplane.models.errors import ApplyFailed, ResourceBusy, ResourceNotFound, TransientAwsError
from controlplane.models.scale import (
    ChangeRecord,
    GuardCheck,
    Prepared,
    ProgressState,
    ResourceState,
    ResourceTarget,
    ScalePlan,
    ScaleRequest,
)

ClientFactory = Callable[[str], Any]
# An IAM grant as the template writes it: (action, resource), the resource in Fn::Sub syntax over the
# template's parameters ("*" where the action allows no resource-level permission).
Grant = tuple[str, str]
ARN = "arn:${AWS::Partition}"
DB_ANY = f"{ARN}:rds:${{AWS::Region}}:${{AWS::AccountId}}:db:*"
DB_PRIMARY = f"{ARN}:rds:${{AWS::Region}}:${{AWS::AccountId}}:db:${{RdsPrimaryIdentifier}}"


class ScalableResource(ABC):
    """One kind of resource whose capacity the control plane moves."""

    kind: ClassVar[str]
    target_model: ClassVar[type[ResourceTarget]]
    # The IAM grants this adapter needs, by phase ("read": plan, apply and observe; "guard": plan;
    # "apply": prepare, apply and finalize; "verify": check). tests/infra checks that the template
    # grants exactly these, actions and resources, to the functions that run each phase.
    iam: ClassVar[dict[str, tuple[Grant, ...]]]
    # AWS error codes meaning "this resource does not exist".
    not_found_codes: ClassVar[frozenset[str]] = frozenset()
    # AWS error codes meaning "another change of this resource is under way; nothing was changed".
    busy_codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, clients: ClientFactory = aws.client) -> None:
        self._clients = clients

    def client(self, service: str) -> Any:
        return self._clients(service)

    @abstractmethod
    def read(self, target: Any) -> ResourceState:
        """Current capacity, bounds, status and tags. Raises ResourceNotFound."""

    def plan(self, request: ScaleRequest, state: ResourceState, policy: Policy) -> ScalePlan:
        """The desired capacity from the request; adapters add what apply needs in ``details``."""
        desired = request.desired if request.desired is not None else state.capacity + (request.delta or 0)
        return ScalePlan(
            kind=self.kind,
            resource_id=state.resource_id,
            current=state.capacity,
            desired=max(desired, 0),
            min_capacity=state.min_capacity,
            max_capacity=state.max_capacity,
            status=state.status,
            details=self.plan_details(state, max(desired, 0), policy),
            lease_key=request.resource.lease_key,
        )

    def plan_details(self, state: ResourceState, desired: int, policy: Policy) -> dict[str, Any]:
        """Adapter-specific parts of a plan (names to create, members to remove). None by default."""
        return {}

    def guard_checks(self, state: ResourceState, plan: ScalePlan, policy: Policy) -> list[GuardCheck]:
        """Guards only this kind has (backups on, cluster mode, memory headroom). None by default."""
        return []

    def prepare(self, target: Any, plan: ScalePlan) -> Prepared:
        """What must happen before ``apply`` (e.g. withdraw replicas from the reader endpoint) and how
        many seconds the state machine waits before applying. Idempotent. Nothing by default."""
        return Prepared()

    @abstractmethod
    def apply(self, target: Any, plan: ScalePlan, token: str) -> ChangeRecord:
        """Start the change. Idempotent for one token: a repeat must not change twice."""

    def resumes(self, live: ResourceState, plan: ScalePlan) -> bool:
        """True when ``live`` differs from ``plan.current`` only by part of this very plan, already done.

        An adapter whose apply makes several calls (one per replica) can be interrupted half-way
        (throttled after the first call); the state machine's retry must then finish the plan, not
        call it stale. Apply must be idempotent per item for this. Default: one call, all or nothing.
        """
        return False

    def finalize(self, target: Any, plan: ScalePlan, change: ChangeRecord) -> dict[str, Any]:
        """What must follow a verified change (e.g. publish new replicas). Idempotent. Nothing by default."""
        return {}

    @abstractmethod
    def progress(self, target: Any, plan: ScalePlan, change: ChangeRecord) -> tuple[ProgressState, int, str, str]:
        """(state, observed capacity, AWS status, detail) of a change under way. Never waits."""

    def recent_maximum(
        self, namespace: str, metric: str, dimension: str, values: list[str], window: timedelta
    ) -> dict[str, float | None]:
        """The Maximum of ``metric`` per ``dimension`` value over the last ``window`` (one GetMetricData call).

        None for a value with no datapoints: a guard or a verify must treat "no data" as "not shown".
        """
        if not values:
            return {}
        now = datetime.now(UTC)
        queries = [
            {
                "Id": f"m{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [{"Name": dimension, "Value": value}],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
                "ReturnData": True,
            }
            for index, value in enumerate(values)
        ]
        try:
            response = self.client("cloudwatch").get_metric_data(
                MetricDataQueries=queries, StartTime=now - window, EndTime=now + timedelta(minutes=1)
            )
        except Exception as exc:
            raise self.translate(exc, f"read {metric}") from None
        found = {str(r["Id"]): [float(v) for v in r.get("Values", [])] for r in response.get("MetricDataResults", [])}
        return {value: max(found.get(f"m{i}") or [], default=None) for i, value in enumerate(values)}

    def translate(self, exc: Exception, action: str) -> Exception:
        """Map an AWS error to the domain error the state machine acts on."""
        code = aws.error_code(exc)
        if aws.is_retryable(exc):
            return TransientAwsError(f"{action}: AWS answered {code or type(exc).__name__}")
        if code is None:
            return exc
        if code in self.busy_codes:
            return ResourceBusy(f"{action}: another change is under way ({code})")
        if code in self.not_found_codes:
            return ResourceNotFound(f"{action}: {self.kind} not found ({code})")
        return ApplyFailed(f"{action}: AWS refused with {code}")
