"""IAM resources of the operations the Backup, Restore drill and Recovery workflows call
(Service Authorization Reference: Amazon RDS, Amazon ElastiCache, Amazon EKS)."""

from __future__ import annotations

from typing import Any

from cpctl.sandbox.iam_resources import Authorization, RequestContext, action, rule


def _snapshot(context: RequestContext, identifier: str) -> str:
    return identifier if identifier.startswith("arn:") else context.arn("rds", f"snapshot:{identifier.lower()}")


def _tags(context: RequestContext, resource: str, parameter: str = "Tags") -> list[Authorization]:
    return [(action(context, "AddTagsToResource"), resource)] if context.param(parameter) else []


@rule("rds", "CopyDBSnapshot")
def _rds_copy_snapshot(context: RequestContext) -> list[Authorization]:
    """Authorized on the target (in the region called, the destination) and on the source snapshot."""
    target = _snapshot(context, str(context.param("TargetDBSnapshotIdentifier")))
    source = _snapshot(context, str(context.param("SourceDBSnapshotIdentifier")))
    return [(action(context), target), (action(context), source), *_tags(context, target)]


@rule("rds", "RestoreDBInstanceFromDBSnapshot")
def _rds_restore(context: RequestContext) -> list[Authorization]:
    """On the new instance, the snapshot, and the subnet, option and parameter groups it uses."""
    instance = context.arn("rds", f"db:{str(context.param('DBInstanceIdentifier')).lower()}")
    found = [
        (action(context), instance),
        (action(context), _snapshot(context, str(context.param("DBSnapshotIdentifier")))),
    ]
    if context.param("DBSubnetGroupName"):
        found.append((action(context), context.arn("rds", f"subgrp:{context.param('DBSubnetGroupName')}")))
    return [*found, *_tags(context, instance)]


@rule("rds", "StartDBInstanceAutomatedBackupsReplication", "DescribeDBInstanceAutomatedBackups")
def _rds_backup_replication(context: RequestContext) -> list[Authorization]:
    source = context.param("SourceDBInstanceArn") or context.param("DBInstanceIdentifier")
    return [(action(context), str(source) if str(source).startswith("arn:") else context.arn("rds", f"db:{source}"))]


def _cache_snapshot(context: RequestContext, name: Any) -> str:
    return context.arn("elasticache", f"snapshot:{str(name).lower()}")


@rule("elasticache", "DescribeSnapshots", "DeleteSnapshot")
def _cache_snapshots(context: RequestContext) -> list[Authorization]:
    name = context.param("SnapshotName")
    if name:
        return [(action(context), _cache_snapshot(context, name))]
    group = context.param("ReplicationGroupId")
    if group:
        return [(action(context), context.arn("elasticache", f"replicationgroup:{group}"))]
    return [(action(context), context.arn("elasticache", "snapshot:*"))]


@rule("elasticache", "CopySnapshot")
def _cache_copy(context: RequestContext) -> list[Authorization]:
    source = _cache_snapshot(context, context.param("SourceSnapshotName"))
    target = _cache_snapshot(context, context.param("TargetSnapshotName"))
    return [(action(context), source), (action(context), target), *_tags(context, target)]


def _eks_part(context: RequestContext, kind: str, name: str) -> str:
    from cpctl.sandbox.moto_patches.backup import eks_parts

    cluster = str(context.param("name"))
    parts = eks_parts(context.account, context.region, cluster)
    found = parts["addons" if kind == "addon" else "access"].get(name)
    if found is not None:
        return str(found["addonArn" if kind == "addon" else "accessEntryArn"])
    return context.arn("eks", f"{kind}/{cluster}/{name}")


@rule("eks", "ListAddons", "ListAccessEntries")
def _eks_cluster_lists(context: RequestContext) -> list[Authorization]:
    return [(action(context), context.arn("eks", f"cluster/{context.param('name')}"))]


@rule("eks", "DescribeAddon")
def _eks_addon(context: RequestContext) -> list[Authorization]:
    return [(action(context), _eks_part(context, "addon", str(context.param("addonName"))))]


@rule("eks", "DescribeAccessEntry")
def _eks_access_entry(context: RequestContext) -> list[Authorization]:
    from urllib.parse import unquote

    return [(action(context), _eks_part(context, "access-entry", unquote(str(context.param("principalArn")))))]
