"""The sandbox's snapshot, copy, export and restore behaviour (moto_patches/backup.py), as AWS documents it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cpctl.sandbox import backup_support
from cpctl.sandbox.moto_patches import backup as backup_patch
from cpctl.sandbox.runtime import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def _dr(sandbox: Sandbox, service: str) -> Any:
    return backup_support.client_in(sandbox, service, backup_support.dr_region(sandbox))


def _snapshot(sandbox: Sandbox, name: str) -> dict[str, Any]:
    return dict(
        sandbox.client("rds").create_db_snapshot(DBInstanceIdentifier=sandbox.primary_id, DBSnapshotIdentifier=name)[
            "DBSnapshot"
        ]
    )


def test_the_patch_targets_resolve() -> None:
    from cpctl.sandbox import moto_patches

    assert [t for t in backup_patch.targets() if t in moto_patches.verify()] == []
    assert backup_patch in moto_patches._modules()


def test_a_held_snapshot_is_creating_until_the_hold_runs_out(sandbox: Sandbox) -> None:
    sandbox.state.hold("rds-snapshot", "held-snap", polls=2, status="creating")
    assert _snapshot(sandbox, "held-snap")["Status"] == "creating"
    rds = sandbox.client("rds")
    statuses = [
        rds.describe_db_snapshots(DBSnapshotIdentifier="held-snap")["DBSnapshots"][0]["Status"] for _ in range(3)
    ]
    assert statuses == ["creating", "creating", "available"]


def test_an_encrypted_cross_region_copy_needs_a_key_of_the_destination_region(sandbox: Sandbox) -> None:
    source = _snapshot(sandbox, "needs-key")
    with pytest.raises(ClientError) as refused:
        _dr(sandbox, "rds").copy_db_snapshot(
            SourceDBSnapshotIdentifier=source["DBSnapshotArn"],
            TargetDBSnapshotIdentifier="needs-key",
            SourceRegion=sandbox.region,
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    key = sandbox.platform_outputs["DrKmsKeyArn"][1]
    copy = _dr(sandbox, "rds").copy_db_snapshot(
        SourceDBSnapshotIdentifier=source["DBSnapshotArn"], TargetDBSnapshotIdentifier="needs-key", KmsKeyId=key,
        SourceRegion=sandbox.region,
    )["DBSnapshot"]  # fmt: skip
    assert copy["KmsKeyId"] == key and copy["Encrypted"] is True


def test_copies_in_flight_to_one_region_are_limited_and_the_limit_answers_snapshot_quota_exceeded(
    sandbox: Sandbox,
) -> None:
    key = sandbox.platform_outputs["DrKmsKeyArn"][1]
    backup_patch.settings["copies_in_flight"] = 1
    try:
        for name in ("quota-a", "quota-b"):
            _snapshot(sandbox, name)
            sandbox.state.hold("rds-snapshot-copy", name, polls=100, status="pending")
        arn = sandbox.client("rds").describe_db_snapshots(DBSnapshotIdentifier="quota-a")["DBSnapshots"][0][
            "DBSnapshotArn"
        ]
        first = _dr(sandbox, "rds").copy_db_snapshot(
            SourceDBSnapshotIdentifier=arn,
            TargetDBSnapshotIdentifier="quota-a",
            KmsKeyId=key,
            SourceRegion=sandbox.region,
        )["DBSnapshot"]
        assert first["Status"] == "pending"
        with pytest.raises(ClientError) as refused:
            _dr(sandbox, "rds").copy_db_snapshot(
                SourceDBSnapshotIdentifier=arn.replace("quota-a", "quota-b"), TargetDBSnapshotIdentifier="quota-b",
                KmsKeyId=key, SourceRegion=sandbox.region,
            )  # fmt: skip
        assert refused.value.response["Error"]["Code"] == "SnapshotQuotaExceeded"
    finally:
        backup_patch.settings["copies_in_flight"] = 20


def test_the_primary_lists_its_automated_backup_replication_to_the_dr_region(sandbox: Sandbox) -> None:
    primary = sandbox.client("rds").describe_db_instances(DBInstanceIdentifier=sandbox.primary_id)["DBInstances"][0]
    arns = [r["DBInstanceAutomatedBackupsArn"] for r in primary["DBInstanceAutomatedBackupsReplications"]]
    assert [a.split(":")[3] for a in arns] == [backup_support.dr_region(sandbox)]
    assert primary["LatestRestorableTime"]


def test_an_export_needs_the_elasticache_grants_on_the_bucket_and_writes_one_file_per_shard(sandbox: Sandbox) -> None:
    ec, s3 = sandbox.client("elasticache"), sandbox.client("s3")
    ec.create_snapshot(ReplicationGroupId=sandbox.cache_group_id, SnapshotName="export-test")
    s3.create_bucket(Bucket="no-grants-here")
    with pytest.raises(ClientError) as refused:
        ec.copy_snapshot(
            SourceSnapshotName="export-test", TargetSnapshotName="x/export-test", TargetBucket="no-grants-here"
        )
    assert "ElastiCache has not been granted READ permissions" in refused.value.response["Error"]["Message"]
    ec.copy_snapshot(
        SourceSnapshotName="export-test", TargetSnapshotName="x/export-test", TargetBucket="sip-dev-backups"
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="sip-dev-backups", Prefix="x/")["Contents"]]
    shards = len(
        ec.describe_replication_groups(ReplicationGroupId=sandbox.cache_group_id)["ReplicationGroups"][0]["NodeGroups"]
    )
    assert keys == [f"x/export-test-{n:04d}.rdb" for n in range(1, shards + 1)]
    assert s3.head_object(Bucket="sip-dev-backups", Key=keys[0])["ServerSideEncryption"] == "aws:kms"
    with pytest.raises(ClientError) as again:
        ec.copy_snapshot(
            SourceSnapshotName="export-test", TargetSnapshotName="x/export-test", TargetBucket="sip-dev-backups"
        )
    assert "already contains an object with key" in again.value.response["Error"]["Message"]


def test_objects_put_without_encryption_are_encrypted_as_s3_does(sandbox: Sandbox) -> None:
    s3 = sandbox.client("s3")
    s3.create_bucket(Bucket="plain-bucket")
    s3.put_object(Bucket="plain-bucket", Key="k", Body=b"x")
    assert s3.head_object(Bucket="plain-bucket", Key="k")["ServerSideEncryption"] == "AES256"


def test_the_cluster_lists_and_describes_its_addons_and_access_entries(sandbox: Sandbox) -> None:
    eks = sandbox.client("eks")
    cluster = str(sandbox.tfvars["eks_cluster_name"])
    addons = eks.list_addons(clusterName=cluster)["addons"]
    assert addons == ["coredns", "kube-proxy", "vpc-cni"]
    assert eks.describe_addon(clusterName=cluster, addonName="coredns")["addon"]["addonVersion"]
    principal = eks.list_access_entries(clusterName=cluster)["accessEntries"][0]
    assert eks.describe_access_entry(clusterName=cluster, principalArn=principal)["accessEntry"]["kubernetesGroups"]
    with pytest.raises(ClientError) as missing:
        eks.describe_addon(clusterName=cluster, addonName="nope")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_restore_honours_deletion_protection_false_and_gets_its_own_secret(sandbox: Sandbox) -> None:
    _snapshot(sandbox, "restore-src")
    rds = sandbox.client("rds")
    restored = rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier="restore-test", DBSnapshotIdentifier="restore-src", DeletionProtection=False,
        ManageMasterUserPassword=True,
    )["DBInstance"]  # fmt: skip
    primary = rds.describe_db_instances(DBInstanceIdentifier=sandbox.primary_id)["DBInstances"][0]
    assert restored["DeletionProtection"] is False
    assert restored["MasterUserSecret"]["SecretArn"] != primary["MasterUserSecret"]["SecretArn"]
    rds.delete_db_instance(DBInstanceIdentifier="restore-test", SkipFinalSnapshot=True)
