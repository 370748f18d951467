"""EKS node groups as AWS behaves, where moto is simpler.

- ``UpdateNodegroupConfig`` refuses a desired size outside min/max
  (InvalidParameterException) and a node group that is not ACTIVE
  (ResourceInUseException), honours ``clientRequestToken`` (a repeat returns the
  first update and changes nothing), and can leave the node group UPDATING for
  a number of reads (``SANDBOX_STATE.hold("eks", "<cluster>/<nodegroup>", ...)``).
- ``DescribeNodegroup`` reports the held status until the hold runs out.
- ``TagResource`` accepts node group ARNs too (moto tags clusters only), so a
  test can put the protection tag on a node group as an operator would.
- ``DescribeUpdate`` and ``ListUpdates`` (moto has neither): every
  ``UpdateNodegroupConfig`` is remembered with the id it returned. It is
  ``InProgress`` while the node group is held (a hold counts the reads of one
  Lambda invocation, DescribeNodegroup and DescribeUpdate alike, as one poll),
  then ``Successful``; ``SANDBOX_STATE.fail_next_update(cluster, nodegroup,
  "Failed" | "Cancelled", errors)`` makes the next one end so, with its
  ``errors`` (``errorCode`` from the API's ErrorCode enum) and the node group's
  previous scaling config restored. ``params`` use the API's types
  (``MinSize``, ``MaxSize``, ``DesiredSize``), not moto's ``ScalingConfig``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult
from moto.eks import urls as eks_urls
from moto.eks.exceptions import InvalidParameterException, ResourceInUseException, ResourceNotFoundException
from moto.eks.models import EKSBackend
from moto.eks.responses import EKSResponse

from cpctl.sandbox.moto_patches.lambda_bridge import current_invocation
from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

_APPLIED: dict[str, Any] = {}
_TOKENS: dict[tuple[str, str, str], dict[str, Any]] = {}
_LOCK = threading.RLock()
_UPDATE_PATHS = {
    "{0}/clusters/(?P<name>[^/]+)/updates$": "list_updates",
    "{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$": "describe_update",
}
_SCALING_PARAMS = (("minSize", "MinSize"), ("maxSize", "MaxSize"), ("desiredSize", "DesiredSize"))


@dataclass
class _Update:
    """One node group update as EKS keeps it: its answer, and how it ends once no longer held."""

    record: dict[str, Any]
    cluster: str
    nodegroup: str
    final_status: str
    final_errors: list[dict[str, Any]]
    previous_scaling: dict[str, int]
    settled: bool = False
    nodegroup_object: Any = field(default=None, repr=False)


# (backend id, cluster) -> updates in creation order
_UPDATES: dict[tuple[int, str], list[_Update]] = {}


def _resource_id(cluster_name: str, nodegroup_name: str) -> str:
    return f"{cluster_name}/{nodegroup_name}"


def _settle(update: _Update) -> None:
    """The update is over: report its final status; a failed or cancelled one leaves the old scaling."""
    if update.settled:
        return
    update.settled = True
    update.record["status"] = update.final_status
    update.record["errors"] = list(update.final_errors)
    if update.final_status != "Successful" and update.nodegroup_object is not None:
        update.nodegroup_object.scaling_config.update(update.previous_scaling)
    if update.nodegroup_object is not None and update.nodegroup_object.status == "UPDATING":
        update.nodegroup_object.status = "ACTIVE"


def _progress(self: EKSBackend, cluster_name: str, nodegroup_name: str) -> str | None:
    """Read the node group's hold once for this poll; settle its updates when the hold is over."""
    held = SANDBOX_STATE.held_status("eks", _resource_id(cluster_name, nodegroup_name), current_invocation())
    if held is None:
        for update in _UPDATES.get((id(self), cluster_name), []):
            if update.nodegroup == nodegroup_name:
                _settle(update)
    return held


def _describe_nodegroup(self: EKSBackend, cluster_name: str, nodegroup_name: str) -> Any:
    with _LOCK:
        nodegroup = _APPLIED["describe_nodegroup"](self, cluster_name, nodegroup_name)
        if nodegroup.status == "UPDATING":
            held = _progress(self, cluster_name, nodegroup_name)
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
        previous = dict(nodegroup.scaling_config)
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
        update["params"] = _params(update["params"], scaling_config)
        failure = SANDBOX_STATE.take_update_failure(cluster_name, nodegroup_name)
        tracked = _Update(
            record=update,
            cluster=cluster_name,
            nodegroup=nodegroup_name,
            final_status=failure.status if failure else "Successful",
            final_errors=failure.errors if failure else [],
            previous_scaling=previous,
            nodegroup_object=nodegroup,
        )
        _UPDATES.setdefault((id(self), cluster_name), []).append(tracked)
        if SANDBOX_STATE.peek_hold("eks", _resource_id(cluster_name, nodegroup_name)) is not None:
            nodegroup.status = "UPDATING"
            update["status"] = "InProgress"
            update["errors"] = []
        else:
            _settle(tracked)
        if client_request_token:
            _TOKENS[key] = update
        return dict(update)


def _params(moto_params: list[dict[str, str]], scaling_config: dict[str, int] | None) -> list[dict[str, str]]:
    """EKS reports a scaling change as MinSize/MaxSize/DesiredSize params (moto: one ScalingConfig)."""
    kept = [p for p in moto_params if p.get("type") != "ScalingConfig"]
    for field_name, param_type in _SCALING_PARAMS:
        if scaling_config and field_name in scaling_config:
            kept.append({"type": param_type, "value": str(scaling_config[field_name])})
    return kept


def _not_found(cluster_name: str, nodegroup_name: str | None, message: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        clusterName=cluster_name, nodegroupName=nodegroup_name, fargateProfileName=None, addonName=None, message=message
    )


def _find_updates(self: EKSBackend, cluster_name: str, nodegroup_name: str | None) -> list[_Update]:
    if cluster_name not in self.clusters:
        raise _not_found(cluster_name, nodegroup_name, f"No cluster found for name: {cluster_name}.")
    if nodegroup_name is not None and nodegroup_name not in self.clusters[cluster_name].nodegroups:
        raise _not_found(cluster_name, nodegroup_name, f"No node group found for name: {nodegroup_name}.")
    return [u for u in _UPDATES.get((id(self), cluster_name), []) if u.nodegroup == nodegroup_name]


def describe_update(
    self: EKSBackend, cluster_name: str, update_id: str, nodegroup_name: str | None = None
) -> dict[str, Any]:
    """DescribeUpdate: InProgress while the node group is held, then how the update ended."""
    with _LOCK:
        for update in _find_updates(self, cluster_name, nodegroup_name):
            if update.record["id"] == update_id:
                if not update.settled:
                    held = _progress(self, cluster_name, update.nodegroup)
                    if held is None:
                        _settle(update)
                return dict(update.record)
        raise _not_found(cluster_name, nodegroup_name, f"No update found for ID: {update_id}.")


def list_updates(self: EKSBackend, cluster_name: str, nodegroup_name: str | None = None) -> list[str]:
    """ListUpdates: the ids of the node group's (or, without one, the cluster's own) updates."""
    with _LOCK:
        return [u.record["id"] for u in _find_updates(self, cluster_name, nodegroup_name)]


def _respond_describe_update(self: EKSResponse) -> ActionResult:
    update = self.eks_backend.describe_update(  # type: ignore[attr-defined]
        cluster_name=self._get_param("name"),
        update_id=self._get_param("updateId"),
        nodegroup_name=self._get_param("nodegroupName"),
    )
    return ActionResult({"update": update})


def _respond_list_updates(self: EKSResponse) -> ActionResult:
    ids = self.eks_backend.list_updates(  # type: ignore[attr-defined]
        cluster_name=self._get_param("name"), nodegroup_name=self._get_param("nodegroupName")
    )
    limit = int(self._get_param("maxResults") or 100)
    start = int(self._get_param("nextToken") or 0)
    page: dict[str, Any] = {"updateIds": ids[start : start + limit]}
    if start + limit < len(ids):
        page["nextToken"] = str(start + limit)
    return ActionResult(page)


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
    EKSBackend.describe_update = describe_update  # type: ignore[attr-defined]
    EKSBackend.list_updates = list_updates  # type: ignore[attr-defined]
    EKSResponse.describe_update = _respond_describe_update  # type: ignore[attr-defined]
    EKSResponse.list_updates = _respond_list_updates  # type: ignore[attr-defined]
    dispatch = eks_urls.response.dispatch
    for path in _UPDATE_PATHS:
        eks_urls.url_paths.setdefault(path, dispatch)


def reset() -> None:
    with _LOCK:
        _TOKENS.clear()
        _UPDATES.clear()


def targets() -> list[str]:
    return [
        "moto.eks.models.EKSBackend.describe_nodegroup",
        "moto.eks.models.EKSBackend.update_nodegroup_config",
        "moto.eks.models.EKSBackend.tag_resource",
        "moto.eks.models.Nodegroup",
        "moto.eks.exceptions.InvalidParameterException",
        "moto.eks.exceptions.ResourceInUseException",
        "moto.eks.exceptions.ResourceNotFoundException",
        "moto.eks.urls.url_paths",
        "moto.eks.urls.response",
        "moto.eks.responses.EKSResponse.eks_backend",
        "moto.core.responses.ActionResult",
    ]
