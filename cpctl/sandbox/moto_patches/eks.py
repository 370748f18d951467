"""EKS node groups as AWS behaves, where moto is simpler.

- ``UpdateNodegroupConfig`` refuses a desired size outside min/max
  (InvalidParameterException) and a node group that is not ACTIVE
  (ResourceInUseException), honours ``clientRequestToken`` (a repeat returns the
  first update and changes nothing), and can leave the node group UPDATING for
  a number of reads (``SANDBOX_STATE.hold("eks", "<cluster>/<nodegroup>", ...)``).
- ``DescribeNodegroup`` reports the held status until the hold runs out.
- ``TagResource`` accepts node group ARNs too (moto tags clusters only), so a
  test can put the protection tag on a node group as an operator would.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.eks.exceptions import InvalidParameterException, ResourceInUseException
from moto.eks.models import EKSBackend

from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

_APPLIED: dict[str, Any] = {}
_TOKENS: dict[tuple[str, str, str], dict[str, Any]] = {}
_LOCK = threading.Lock()


def _resource_id(cluster_name: str, nodegroup_name: str) -> str:
    return f"{cluster_name}/{nodegroup_name}"


def _describe_nodegroup(self: EKSBackend, cluster_name: str, nodegroup_name: str) -> Any:
    nodegroup = _APPLIED["describe_nodegroup"](self, cluster_name, nodegroup_name)
    if nodegroup.status == "UPDATING":
        held = SANDBOX_STATE.held_status("eks", _resource_id(cluster_name, nodegroup_name))
        nodegroup.status = held or "ACTIVE"
    return nodegroup


def _update_nodegroup_config(
    self: EKSBackend,
    cluster_name: str,
    nodegroup_name: str,
    labels: dict[str, Any] | None = None,
    taints: dict[str, Any] | None = None,
    scaling_config: dict[str, int] | None = None,
    update_config: dict[str, Any] | None = None,
    node_repair_config: dict[str, Any] | None = None,
    client_request_token: str | None = None,
) -> dict[str, Any]:
    with _LOCK:
        key = (cluster_name, nodegroup_name, client_request_token or "")
        if client_request_token and key in _TOKENS:
            return _TOKENS[key]
        nodegroup = _APPLIED["describe_nodegroup"](self, cluster_name, nodegroup_name)
        if nodegroup.status != "ACTIVE":
            raise ResourceInUseException(
                clusterName=cluster_name,
                nodegroupName=nodegroup_name,
                addonName=None,
                message=f"Nodegroup {nodegroup_name} is currently {nodegroup.status}; wait for it to be ACTIVE",
            )
        if scaling_config:
            merged = {**nodegroup.scaling_config, **scaling_config}
            if not merged["minSize"] <= merged["desiredSize"] <= merged["maxSize"]:
                raise InvalidParameterException(
                    clusterName=cluster_name,
                    nodegroupName=nodegroup_name,
                    addonName=None,
                    message="desired size must be within min size and max size",
                )
        update = _APPLIED["update_nodegroup_config"](
            self,
            cluster_name,
            nodegroup_name,
            labels=labels,
            taints=taints,
            scaling_config=scaling_config,
            update_config=update_config,
            node_repair_config=node_repair_config,
            client_request_token=client_request_token,
        )
        if SANDBOX_STATE.peek_hold("eks", _resource_id(cluster_name, nodegroup_name)) is not None:
            nodegroup.status = "UPDATING"
            update["status"] = "InProgress"
        if client_request_token:
            _TOKENS[key] = update
        return dict(update)


def _tag_resource(self: EKSBackend, resource_arn: str, tags: dict[str, str]) -> None:
    for cluster in self.clusters.values():
        for nodegroup in cluster.nodegroups.values():
            if nodegroup.arn == resource_arn:
                nodegroup.tags.update(tags)
                return
    _APPLIED["tag_resource"](self, resource_arn, tags)


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["tag_resource"] = EKSBackend.tag_resource
    EKSBackend.tag_resource = _tag_resource  # type: ignore[method-assign]
    _APPLIED["describe_nodegroup"] = EKSBackend.describe_nodegroup
    _APPLIED["update_nodegroup_config"] = EKSBackend.update_nodegroup_config
    EKSBackend.describe_nodegroup = _describe_nodegroup  # type: ignore[method-assign]
    EKSBackend.update_nodegroup_config = _update_nodegroup_config  # type: ignore[method-assign]


def reset() -> None:
    with _LOCK:
        _TOKENS.clear()


def targets() -> list[str]:
    return [
        "moto.eks.models.EKSBackend.describe_nodegroup",
        "moto.eks.models.EKSBackend.update_nodegroup_config",
        "moto.eks.models.EKSBackend.tag_resource",
        "moto.eks.models.Nodegroup",
        "moto.eks.exceptions.InvalidParameterException",
        "moto.eks.exceptions.ResourceInUseException",
    ]
