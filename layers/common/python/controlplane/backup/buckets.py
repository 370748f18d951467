"""S3: every platform bucket keeps versioning Enabled, a lifecycle rule for noncurrent versions, and
replication where the policy asks. Terraform configures them; this verifies, and repairs versioning
where the policy allows (under the bucket's lease)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controlplane import aws, leases
from controlplane.backup.models import Check
from controlplane.backup.policy import BucketPolicy
from controlplane.leases import LeaseStore
from controlplane.models.errors import TransientAwsError


def _code(exc: Exception) -> str:
    if aws.is_retryable(exc):
        raise TransientAwsError(f"{aws.error_code(exc)} from S3") from exc
    return aws.error_code(exc) or type(exc).__name__


def check_versioning(
    s3: Any, bucket: BucketPolicy, lease_store: LeaseStore, owner: str, ttl: int, now: datetime
) -> Check:
    name = f"s3.{bucket.name}.versioning"
    try:
        status = s3.get_bucket_versioning(Bucket=bucket.name).get("Status", "never enabled")
    except Exception as exc:
        return Check(name=name, passed=False, detail=f"cannot read versioning: {_code(exc)}")
    if status == "Enabled":
        return Check(name=name, passed=True, detail="Enabled")
    if not bucket.repair_versioning:
        return Check(name=name, passed=False, detail=f"versioning is {status}; the policy does not allow repair")
    key = leases.bucket_key(bucket.name)
    lease_store.acquire(key, owner, ttl, now, workflow="backup")
    try:
        s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
    finally:
        lease_store.release(key, owner)
    return Check(name=name, passed=True, detail=f"versioning was {status}; re-enabled")


def check_lifecycle(s3: Any, bucket: BucketPolicy) -> Check:
    name = f"s3.{bucket.name}.noncurrent_lifecycle"
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket.name).get("Rules", [])
    except Exception as exc:
        return Check(name=name, passed=False, detail=f"no lifecycle configuration ({_code(exc)})")
    noncurrent = [
        r
        for r in rules
        if r.get("Status") == "Enabled"
        and (r.get("NoncurrentVersionExpiration") or r.get("NoncurrentVersionTransitions"))
    ]
    return Check(
        name=name,
        passed=bool(noncurrent),
        detail=f"{len(noncurrent)} enabled rule(s) for noncurrent versions"
        if noncurrent
        else "no enabled rule for noncurrent versions",
    )


def check_replication(s3: Any, bucket: BucketPolicy) -> Check:
    target = f"arn:aws:s3:::{bucket.require_replication_to}"
    name = f"s3.{bucket.name}.replication"
    try:
        rules = s3.get_bucket_replication(Bucket=bucket.name)["ReplicationConfiguration"].get("Rules", [])
    except Exception as exc:
        return Check(name=name, passed=False, detail=f"no replication configuration ({_code(exc)})")
    to_target = [r for r in rules if r.get("Status") == "Enabled" and r.get("Destination", {}).get("Bucket") == target]
    return Check(
        name=name,
        passed=bool(to_target),
        detail=f"replicates to {bucket.require_replication_to}"
        if to_target
        else f"no enabled rule to {bucket.require_replication_to}",
    )


def check_bucket(
    s3: Any, bucket: BucketPolicy, lease_store: LeaseStore, owner: str, ttl: int, now: datetime
) -> list[Check]:
    checks = [check_versioning(s3, bucket, lease_store, owner, ttl, now)]
    if bucket.require_noncurrent_lifecycle:
        checks.append(check_lifecycle(s3, bucket))
    if bucket.require_replication_to:
        checks.append(check_replication(s3, bucket))
    return checks
