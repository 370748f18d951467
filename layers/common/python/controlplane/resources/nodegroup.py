"""EKS managed node groups: move ``desiredSize`` inside the min/max that Terraform owns."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controlplane import clock, leases
from controlplane.config import MANAGED_CLUSTER, managed_nodegroups, require_managed
from controlplane.models.errors import InvalidRequest
from controlplane.models.scale import ChangeRecord, ProgressState, ResourceState, ResourceTarget, ScalePlan
from controlplane.resources import register
from controlplane.resources.base import ARN, ScalableResource

_EKS_NAME = r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$"
_FAILED_STATUSES = frozenset({"CREATE_FAILED", "DELETE_FAILED", "DEGRADED", "DELETING"})
# DescribeUpdate's Update.status: InProgress | Failed | Cancelled | Successful (EKS API reference).
_UPDATE_ENDED_BADLY = frozenset({"Failed", "Cancelled"})


NODEGROUP = f"{ARN}:eks:${{AWS::Region}}:${{AWS::AccountId}}:nodegroup/${{ClusterName}}/*/*"


class NodegroupTarget(ResourceTarget):
    kind: Literal["nodegroup"] = "nodegroup"
    cluster: str = Field(pattern=_EKS_NAME)
    nodegroup: str = Field(pattern=_EKS_NAME)

    @property
    def resource_id(self) -> str:
        return f"{self.cluster}/{self.nodegroup}"

    @property
    def lease_key(self) -> str:
        return leases.nodegroup_key(self.cluster, self.nodegroup)


@register
class NodegroupAdapter(ScalableResource):
    kind = "nodegroup"
    target_model = NodegroupTarget
    iam = {
        "read": (("eks:DescribeNodegroup", NODEGROUP),),
        "apply": (("eks:UpdateNodegroupConfig", NODEGROUP),),
        # The update's own record says how it ended: a Failed or Cancelled update rolls the node group
        # back to its old size while it stays ACTIVE, which the node group alone would show as "pending".
        "verify": (("eks:DescribeUpdate", NODEGROUP),),
    }
    not_found_codes = frozenset({"ResourceNotFoundException"})
    # EKS: "an update is already in progress" (UpdateNodegroupConfig while another update runs).
    busy_codes = frozenset({"ResourceInUseException"})

    def _describe(self, target: NodegroupTarget, action: str) -> dict[str, object]:
        try:
            response = self.client("eks").describe_nodegroup(clusterName=target.cluster, nodegroupName=target.nodegroup)
        except Exception as exc:
            raise self.translate(exc, action) from None
        nodegroup: dict[str, object] = response["nodegroup"]
        return nodegroup

    def read(self, target: NodegroupTarget) -> ResourceState:
        require_managed("cluster", target.cluster, MANAGED_CLUSTER)
        managed = managed_nodegroups()
        if managed is not None and target.nodegroup not in managed:
            raise InvalidRequest(
                f"node group {target.nodegroup!r} is not one this control plane manages: {sorted(managed)}"
            )
        nodegroup = self._describe(target, f"describe node group {target.resource_id}")
        scaling = nodegroup.get("scalingConfig") or {}
        assert isinstance(scaling, dict)
        status = str(nodegroup.get("status", "UNKNOWN"))
        tags = nodegroup.get("tags") or {}
        assert isinstance(tags, dict)
        return ResourceState(
            resource_id=target.resource_id,
            capacity=int(scaling.get("desiredSize", 0)),
            min_capacity=int(scaling.get("minSize", 0)),
            max_capacity=int(scaling.get("maxSize", 0)),
            status=status,
            ready=status == "ACTIVE",
            tags={str(k): str(v) for k, v in tags.items()},
            details={
                "instance_types": nodegroup.get("instanceTypes") or [],
                "capacity_type": nodegroup.get("capacityType"),
            },
        )

    def apply(self, target: NodegroupTarget, plan: ScalePlan, token: str) -> ChangeRecord:
        try:
            response = self.client("eks").update_nodegroup_config(
                clusterName=target.cluster,
                nodegroupName=target.nodegroup,
                scalingConfig={"desiredSize": plan.desired},
                clientRequestToken=token,
            )
        except Exception as exc:
            raise self.translate(exc, f"update node group {target.resource_id}") from None
        update = response.get("update") or {}
        return ChangeRecord(token=token, change_id=update.get("id"), applied_at=clock.now())

    def progress(
        self, target: NodegroupTarget, plan: ScalePlan, change: ChangeRecord
    ) -> tuple[ProgressState, int, str, str]:
        nodegroup = self._describe(target, f"describe node group {target.resource_id}")
        scaling = nodegroup.get("scalingConfig") or {}
        assert isinstance(scaling, dict)
        observed = int(scaling.get("desiredSize", 0))
        status = str(nodegroup.get("status", "UNKNOWN"))
        update_status, update_detail = self._update_status(target, change)
        if update_status in _UPDATE_ENDED_BADLY:
            return "failed", observed, status, f"update {change.change_id} {update_status}: {update_detail}"
        if status in _FAILED_STATUSES:
            health = nodegroup.get("health") or {}
            issues = health.get("issues", []) if isinstance(health, dict) else []
            detail = "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues) or f"node group is {status}"
            return "failed", observed, status, detail
        if status == "ACTIVE" and observed == plan.desired and update_status in {None, "Successful"}:
            return "done", observed, status, "node group is ACTIVE at the desired size"
        return "in_progress", observed, status, f"node group is {status}, desired {observed}"

    def _update_status(self, target: NodegroupTarget, change: ChangeRecord) -> tuple[str | None, str]:
        """How the update that Apply started is going, from EKS's record of it (None: no update id)."""
        if not change.change_id:
            return None, ""
        try:
            response = self.client("eks").describe_update(
                name=target.cluster, updateId=change.change_id, nodegroupName=target.nodegroup
            )
        except Exception as exc:
            raise self.translate(exc, f"describe update {change.change_id} of {target.resource_id}") from None
        update = response.get("update") or {}
        errors = update.get("errors") or []
        detail = "; ".join(f"{e.get('errorCode')}: {e.get('errorMessage')}" for e in errors) or "no errors reported"
        return str(update.get("status", "")) or None, detail
