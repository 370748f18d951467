"""EKS: the state the API exposes (cluster configuration, node groups with scaling, labels and taints,
add-ons, access entries), exported as versioned JSON: what Terraform and the control plane set, in a
form a rebuild can be checked against. Workloads are not in it (they are in Git)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from controlplane import aws
from controlplane.models.errors import TransientAwsError

SCHEMA_VERSION = 1
CLUSTER_FIELDS = (
    "name",
    "arn",
    "version",
    "platformVersion",
    "roleArn",
    "resourcesVpcConfig",
    "kubernetesNetworkConfig",
    "logging",
    "accessConfig",
    "encryptionConfig",
    "tags",
    "status",
)
NODEGROUP_FIELDS = (
    "nodegroupName",
    "version",
    "releaseVersion",
    "capacityType",
    "scalingConfig",
    "instanceTypes",
    "subnets",
    "amiType",
    "nodeRole",
    "labels",
    "taints",
    "updateConfig",
    "launchTemplate",
    "tags",
    "diskSize",
    "status",
)
ADDON_FIELDS = ("addonName", "addonVersion", "serviceAccountRoleArn", "configurationValues", "status", "tags")
ACCESS_FIELDS = ("principalArn", "kubernetesGroups", "type", "username", "tags")


def _pick(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: item[k] for k in fields if k in item}


def _pages(eks: Any, operation: str, key: str, **params: Any) -> list[Any]:
    found: list[Any] = []
    for page in eks.get_paginator(operation).paginate(**params):
        found += page.get(key, [])
    return found


def collect(eks: Any, cluster: str, now: datetime) -> dict[str, Any]:
    try:
        described = eks.describe_cluster(name=cluster)["cluster"]
        nodegroups = [
            _pick(eks.describe_nodegroup(clusterName=cluster, nodegroupName=n)["nodegroup"], NODEGROUP_FIELDS)
            for n in sorted(_pages(eks, "list_nodegroups", "nodegroups", clusterName=cluster))
        ]
        addons = [
            _pick(eks.describe_addon(clusterName=cluster, addonName=a)["addon"], ADDON_FIELDS)
            for a in sorted(_pages(eks, "list_addons", "addons", clusterName=cluster))
        ]
        entries = [
            _pick(eks.describe_access_entry(clusterName=cluster, principalArn=p)["accessEntry"], ACCESS_FIELDS)
            for p in sorted(_pages(eks, "list_access_entries", "accessEntries", clusterName=cluster))
        ]
    except Exception as exc:
        if aws.is_retryable(exc):
            raise TransientAwsError(f"{aws.error_code(exc)} from EKS") from exc
        raise
    return {
        "schema_version": SCHEMA_VERSION,
        "exported_at": now.isoformat(),
        "cluster": _pick(described, CLUSTER_FIELDS),
        "nodegroups": nodegroups,
        "addons": addons,
        "access_entries": entries,
    }


def export(eks: Any, s3: Any, cluster: str, bucket: str, key: str, now: datetime) -> dict[str, Any]:
    """Write the state; a re-run the same day writes a new version of the same key (bucket versioning)."""
    state = collect(eks, cluster, now)
    body = json.dumps(state, default=str, sort_keys=True, indent=1).encode()
    try:
        put = s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json", ServerSideEncryption="aws:kms"
        )
    except Exception as exc:
        if aws.is_retryable(exc):
            raise TransientAwsError(f"{aws.error_code(exc)} from S3") from exc
        raise
    return {
        "bytes": len(body),
        "version_id": put.get("VersionId"),
        "nodegroups": len(state["nodegroups"]),
        "addons": len(state["addons"]),
        "access_entries": len(state["access_entries"]),
    }
