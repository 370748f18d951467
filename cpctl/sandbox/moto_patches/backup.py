"""Snapshots, copies, exports and restores as AWS behaves them, where moto 5.2.5 is simpler or silent.

RDS
- ``CreateDBSnapshot`` can leave the snapshot ``creating`` for a number of reads
  (``SANDBOX_STATE.hold("rds-snapshot", "<id>", polls, "creating")``); moto makes it ``available`` at once.
- ``CopyDBSnapshot`` across regions: an encrypted source needs ``KmsKeyId`` (a key of the destination
  region; moto checks the key exists there); at most ``settings["copies_in_flight"]`` copies may be in
  flight to one destination region (RDS: 20 per account and destination region), beyond which it answers
  ``SnapshotQuotaExceeded``; a copy can stay ``pending`` (``hold("rds-snapshot-copy", "<id>", ...)``).
- ``StartDBInstanceAutomatedBackupsReplication`` (moto has none), called in the destination region as
  Terraform's ``aws_db_instance_automated_backups_replication`` does: the source instance then lists the
  replication in ``DBInstanceAutomatedBackupsReplications``.
- ``LatestRestorableTime`` follows the control plane's clock, ``settings["restorable_lag_seconds"]`` behind
  it (RDS uploads transaction logs about every five minutes); a test makes backups stale by raising it.
- ``RestoreDBInstanceFromDBSnapshot`` with ``ManageMasterUserPassword`` gives the new instance its own
  secret (moto would share the source's), can stay ``creating`` (``hold("rds", "<id>", ...)``), and calls
  the data-plane hooks (``on_restore``), and honours false overrides (moto keeps the source's
  ``DeletionProtection`` when the request says false) so the sandbox can load the snapshot's data into a real PostgreSQL
  and map the instance's endpoint to it (``map_endpoint``).

ElastiCache
- ``CreateSnapshot`` can stay ``creating`` (``hold("elasticache-snapshot", "<name>", ...)``).
- ``CopySnapshot`` (moto has none): a copy inside ElastiCache, or with ``TargetBucket`` an export as AWS
  documents it: the bucket must exist in the same region and grant the ElastiCache canonical user READ,
  WRITE and READ_ACP (bucket ACL), no object of that name may exist; one ``<name>-<shard>.rdb`` object
  per node group is written.

S3
- ``PutObject`` without encryption headers is encrypted with the bucket's default encryption, or SSE-S3
  (AWS encrypts every new object since January 2023); moto stores such objects unencrypted.

EKS
- ``ListAddons``/``DescribeAddon`` and ``ListAccessEntries``/``DescribeAccessEntry`` (moto has none), over
  what ``seed_addon`` / ``seed_access_entry`` registered (the sandbox seeds what Terraform would create).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.eks import urls as eks_urls
from moto.eks.exceptions import ResourceNotFoundException
from moto.eks.models import EKSBackend
from moto.eks.responses import EKSResponse
from moto.elasticache.exceptions import InvalidParameterValueException, SnapshotAlreadyExists, SnapshotNotFound
from moto.elasticache.models import ElastiCacheBackend, Snapshot
from moto.elasticache.responses import ElastiCacheResponse
from moto.rds.exceptions import InvalidParameterValue, SnapshotQuotaExceededFault
from moto.rds.models import DBInstance, DBSnapshot, MasterUserSecret, RDSBackend, rds_backends
from moto.rds.responses import RDSResponse
from moto.s3.models import S3Backend

from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

# The canonical user of ElastiCache in the regions launched before March 2019 (ElastiCache User Guide,
# "Grant ElastiCache access to your Amazon S3 bucket").
ELASTICACHE_CANONICAL_ID = "540804c33a284a299d2547575ce1010f2312ef3da9b3a053c8bc45bf233e4353"
DEFAULTS: dict[str, float] = {"copies_in_flight": 20, "restorable_lag_seconds": 120.0, "export_shard_bytes": 4096}
settings: dict[str, float] = dict(DEFAULTS)
_APPLIED: dict[str, Any] = {}
_LOCK = threading.RLock()
# (region, instance id) -> (host, port): restored instances whose endpoint is a real server.
_ENDPOINTS: dict[tuple[str, str], tuple[str, int]] = {}
# Hooks the data plane registers: on_snapshot(region, snapshot id, instance id), on_copy(source region,
# target region, snapshot id), on_restore(region, instance id, snapshot id, secret arn).
HOOKS: dict[str, list[Callable[..., None]]] = {"on_snapshot": [], "on_copy": [], "on_restore": []}
_EKS: dict[tuple[str, str, str], dict[str, dict[str, dict[str, Any]]]] = {}


def map_endpoint(region: str, instance_id: str, host: str, port: int) -> None:
    with _LOCK:
        _ENDPOINTS[(region, instance_id.lower())] = (host, port)


def unmap_endpoint(region: str, instance_id: str) -> None:
    with _LOCK:
        _ENDPOINTS.pop((region, instance_id.lower()), None)


def _call_hooks(name: str, *args: Any) -> None:
    for hook in list(HOOKS[name]):
        hook(*args)


# --- RDS -------------------------------------------------------------------------------------------


def _create_db_snapshot(self: RDSBackend, *args: Any, **kwargs: Any) -> DBSnapshot:
    snapshot: DBSnapshot = _APPLIED["create_db_snapshot"](self, *args, **kwargs)
    if snapshot.snapshot_type == "manual" and SANDBOX_STATE.peek_hold("rds-snapshot", snapshot.db_snapshot_identifier):
        snapshot.status = "creating"
    _call_hooks("on_snapshot", self.region_name, snapshot.db_snapshot_identifier, snapshot.db_instance_identifier)
    return snapshot


def _in_flight_copies(self: RDSBackend) -> int:
    return sum(
        1 for s in self.database_snapshots.values() if getattr(s, "sandbox_copy", False) and s.status == "pending"
    )


def _copy_db_snapshot(
    self: RDSBackend,
    source_db_snapshot_identifier: str,
    target_db_snapshot_identifier: str,
    kms_key_id: str | None = None,
    **kwargs: Any,
) -> DBSnapshot:
    with _LOCK:
        source_region = self.region_name
        name = source_db_snapshot_identifier
        if name.startswith("arn:"):
            source_region, name = name.split(":")[3], name.rsplit(":", 1)[-1]
        cross_region = source_region != self.region_name
        if cross_region:
            source = rds_backends[self.account_id][source_region].database_snapshots.get(name.lower())
            if source is not None and source.encrypted and not kms_key_id:
                raise InvalidParameterValue(
                    "KmsKeyId must be specified to copy an encrypted snapshot to another region: "
                    "KMS keys are specific to the region they are created in."
                )
            if _in_flight_copies(self) >= int(settings["copies_in_flight"]):
                raise SnapshotQuotaExceededFault()
        copy: DBSnapshot = _APPLIED["copy_db_snapshot"](
            self, source_db_snapshot_identifier, target_db_snapshot_identifier, kms_key_id=kms_key_id, **kwargs
        )
        copy.sandbox_copy = cross_region  # type: ignore[attr-defined]
        if cross_region:
            copy.status = "pending"
            if SANDBOX_STATE.peek_hold("rds-snapshot-copy", copy.db_snapshot_identifier) is None:
                copy.status = "available"
            _call_hooks("on_copy", source_region, self.region_name, copy.db_snapshot_identifier)
        return copy


def _describe_db_snapshots(self: RDSBackend, *args: Any, **kwargs: Any) -> list[DBSnapshot]:
    with _LOCK:
        found: list[DBSnapshot] = _APPLIED["describe_db_snapshots"](self, *args, **kwargs)
        for snapshot in found:
            if snapshot.status == "creating":
                held = SANDBOX_STATE.held_status("rds-snapshot", snapshot.db_snapshot_identifier)
                snapshot.status = held or "available"
            elif snapshot.status == "pending" and getattr(snapshot, "sandbox_copy", False):
                held = SANDBOX_STATE.held_status("rds-snapshot-copy", snapshot.db_snapshot_identifier)
                snapshot.status = held or "available"
        return found


def start_automated_backups_replication(
    self: RDSBackend, source_db_instance_arn: str, backup_retention_period: int | None = None, **_: Any
) -> dict[str, Any]:
    """In the destination region: replicate a source instance's automated backups here."""
    source_region, source_id = source_db_instance_arn.split(":")[3], source_db_instance_arn.rsplit(":", 1)[-1]
    source = rds_backends[self.account_id][source_region].databases.get(source_id)
    if source is None:
        from moto.rds.exceptions import DBInstanceNotFoundError

        raise DBInstanceNotFoundError(source_id)
    arn = f"arn:aws:rds:{self.region_name}:{self.account_id}:auto-backup:ab-{str(source.dbi_resource_id).lower()}"
    source.db_instance_automated_backups_replications = [{"DBInstanceAutomatedBackupsArn": arn}]  # type: ignore[attr-defined]
    return {
        "DBInstanceArn": source_db_instance_arn,
        "DBInstanceIdentifier": source_id,
        "Region": source_region,
        "Status": "replicating",
        "BackupRetentionPeriod": backup_retention_period or source.backup_retention_period,
        "DBInstanceAutomatedBackupsArn": arn,
    }


def _respond_start_replication(self: RDSResponse) -> ActionResult:
    found = start_automated_backups_replication(
        self.backend,
        source_db_instance_arn=str(self._get_param("SourceDBInstanceArn")),
        backup_retention_period=self._get_int_param("BackupRetentionPeriod"),
    )
    return ActionResult({"DBInstanceAutomatedBackup": found})


def _latest_restorable_time(self: DBInstance) -> Any:
    from controlplane import clock

    return utcnow() + timedelta(seconds=clock.offset_seconds() - settings["restorable_lag_seconds"])


def _replications(self: DBInstance) -> list[dict[str, str]]:
    return list(self.__dict__.get("db_instance_automated_backups_replications", []))


def _set_replications(self: DBInstance, value: list[dict[str, str]]) -> None:
    self.__dict__["db_instance_automated_backups_replications"] = value


def _restore(self: RDSBackend, from_snapshot_id: str, overrides: dict[str, Any]) -> DBInstance:
    with _LOCK:
        instance: DBInstance = _APPLIED["restore_db_instance_from_db_snapshot"](self, from_snapshot_id, overrides)
        instance.__dict__.pop("db_instance_automated_backups_replications", None)
        # moto applies only truthy overrides: DeletionProtection=false and MultiAZ=false kept the source's.
        for name in ("deletion_protection", "multi_az", "publicly_accessible"):
            if overrides.get(name) is False:
                setattr(instance, name, False)
        if overrides.get("manage_master_user_password"):
            # Its own secret; moto copied the source's (and would delete it with this instance).
            instance.master_user_secret = MasterUserSecret(instance, overrides.get("master_user_secret_kms_key_id"))
        if SANDBOX_STATE.peek_hold("rds", instance.db_instance_identifier) is not None:
            instance.status = "creating"
        secret = getattr(getattr(instance, "master_user_secret", None), "secret_arn", None)
        name = from_snapshot_id.rsplit(":", 1)[-1]
        _call_hooks("on_restore", self.region_name, instance.db_instance_identifier, name, secret)
        return instance


def _address(self: DBInstance) -> str:
    mapped = _ENDPOINTS.get((self.region, str(self.db_instance_identifier).lower()))
    if mapped is not None:
        return mapped[0]
    return str(_APPLIED["address"].fget(self))


# --- ElastiCache -----------------------------------------------------------------------------------


def _create_cache_snapshot(self: ElastiCacheBackend, *args: Any, **kwargs: Any) -> Snapshot:
    snapshot: Snapshot = _APPLIED["create_snapshot"](self, *args, **kwargs)
    if SANDBOX_STATE.peek_hold("elasticache-snapshot", str(snapshot.snapshot_name)):
        snapshot.snapshot_status = "creating"
    return snapshot


def _describe_cache_snapshots(self: ElastiCacheBackend, *args: Any, **kwargs: Any) -> list[Snapshot]:
    found: list[Snapshot] = _APPLIED["describe_snapshots"](self, *args, **kwargs)
    for snapshot in found:
        if snapshot.snapshot_status == "creating":
            held = SANDBOX_STATE.held_status("elasticache-snapshot", str(snapshot.snapshot_name))
            snapshot.snapshot_status = held or "available"
    return found


def _grants_of(bucket: Any) -> set[str]:
    permissions: set[str] = set()
    for grant in getattr(bucket.acl, "grants", []) if bucket.acl else []:
        if any(getattr(g, "id", "") == ELASTICACHE_CANONICAL_ID for g in grant.grantees):
            permissions |= set(grant.permissions)
    if "FULL_CONTROL" in permissions:
        permissions |= {"READ", "WRITE", "READ_ACP"}
    return permissions


def copy_cache_snapshot(
    self: ElastiCacheBackend,
    source_snapshot_name: str,
    target_snapshot_name: str,
    target_bucket: str | None = None,
    kms_key_id: str | None = None,
) -> Snapshot:
    source = self.snapshots.get(source_snapshot_name)
    if source is None:
        raise SnapshotNotFound(source_snapshot_name)
    if source.snapshot_status != "available":
        from moto.elasticache.exceptions import ElastiCacheException

        class InvalidSnapshotState(ElastiCacheException):
            code = "InvalidSnapshotState"

        raise InvalidSnapshotState(f"Snapshot {source_snapshot_name} is not available.")
    target = target_snapshot_name.lower()
    if not target_bucket:
        if target in self.snapshots:
            raise SnapshotAlreadyExists(target)
        copied = Snapshot(**{**_snapshot_args(source), "snapshot_name": target, "kms_key_id": kms_key_id})
        self.snapshots[target] = copied
        return copied
    _export(self, source, target, target_bucket)
    return source


def _snapshot_args(source: Snapshot) -> dict[str, Any]:
    import inspect

    names = [p for p in inspect.signature(Snapshot.__init__).parameters if p != "self"]
    return {n: getattr(source, n, None) for n in names}


def _export(self: ElastiCacheBackend, source: Snapshot, target: str, bucket_name: str) -> None:
    from moto.s3.models import s3_backends

    s3 = s3_backends[self.account_id]["aws"]
    bucket = s3.buckets.get(bucket_name)
    if bucket is None:
        raise InvalidParameterValueException(f"The S3 bucket {bucket_name} does not exist.")
    if bucket.region_name != self.region_name:
        raise InvalidParameterValueException(f"The S3 bucket {bucket_name} is outside of the region.")
    granted = _grants_of(bucket)
    for needed in ("READ", "WRITE", "READ_ACP"):
        if needed not in granted:
            raise InvalidParameterValueException(
                f"ElastiCache has not been granted {needed} permissions {bucket_name} on the S3 Bucket."
            )
    shards = max(1, int(getattr(source, "num_node_groups", None) or 1))
    keys = [f"{target}-{index:04d}.rdb" for index in range(1, shards + 1)]
    for key in keys:
        if key in bucket.keys:
            raise InvalidParameterValueException(
                f"The S3 bucket {bucket_name} already contains an object with key {key}."
            )
    size = int(settings["export_shard_bytes"])
    for key in keys:
        body = (b"REDIS0011" + str(source.snapshot_name).encode() + b"\x00" * size)[:size]
        s3.put_object(bucket_name, key, body)


def _respond_copy_snapshot(self: ElastiCacheResponse) -> ActionResult:
    snapshot = copy_cache_snapshot(
        self.elasticache_backend,
        source_snapshot_name=str(self._get_param("SourceSnapshotName")),
        target_snapshot_name=str(self._get_param("TargetSnapshotName")),
        target_bucket=self._get_param("TargetBucket"),
        kms_key_id=self._get_param("KmsKeyId"),
    )
    return ActionResult({"Snapshot": snapshot})


# --- S3 --------------------------------------------------------------------------------------------


def _put_object(self: S3Backend, bucket_name: str, key_name: str, value: bytes, *args: Any, **kwargs: Any) -> Any:
    if kwargs.get("encryption") is None and not args[4:5]:
        bucket = self.buckets.get(bucket_name)
        rule = ((bucket.encryption or {}).get("Rule") if bucket is not None else None) or {}
        if isinstance(rule, list):
            rule = rule[0] if rule else {}
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        kwargs["encryption"] = default.get("SSEAlgorithm") or "AES256"
        if default.get("KMSMasterKeyID") and kwargs.get("kms_key_id") is None:
            kwargs["kms_key_id"] = default["KMSMasterKeyID"]
    return _APPLIED["put_object"](self, bucket_name, key_name, value, *args, **kwargs)


# --- EKS add-ons and access entries ------------------------------------------------------------------


def _eks_store(backend: EKSBackend, cluster: str) -> dict[str, dict[str, dict[str, Any]]]:
    if cluster not in backend.clusters:
        raise ResourceNotFoundException(
            clusterName=cluster, nodegroupName=None, fargateProfileName=None, addonName=None,
            message=f"No cluster found for name: {cluster}.",
        )  # fmt: skip
    return _EKS.setdefault((backend.account_id, backend.region_name, cluster), {"addons": {}, "access": {}})


def seed_addon(backend: EKSBackend, cluster: str, name: str, version: str, **extra: Any) -> dict[str, Any]:
    arn = f"arn:aws:eks:{backend.region_name}:{backend.account_id}:addon/{cluster}/{name}/{uuid.uuid4()}"
    addon = {"addonName": name, "clusterName": cluster, "addonVersion": version, "status": "ACTIVE", "addonArn": arn,
             "tags": {}, **extra}  # fmt: skip
    _eks_store(backend, cluster)["addons"][name] = addon
    return addon


def seed_access_entry(backend: EKSBackend, cluster: str, principal: str, groups: list[str]) -> dict[str, Any]:
    role = principal.rsplit("/", 1)[-1]
    where = f"arn:aws:eks:{backend.region_name}:{backend.account_id}"
    arn = f"{where}:access-entry/{cluster}/role/{backend.account_id}/{role}/{uuid.uuid4()}"
    entry = {"clusterName": cluster, "principalArn": principal, "kubernetesGroups": groups, "accessEntryArn": arn,
             "type": "STANDARD", "username": principal, "tags": {}}  # fmt: skip
    _eks_store(backend, cluster)["access"][principal] = entry
    return entry


def eks_parts(account: str, region: str, cluster: str) -> dict[str, dict[str, dict[str, Any]]]:
    return _EKS.get((account, region, cluster), {"addons": {}, "access": {}})


def _not_found(cluster: str, what: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        clusterName=cluster, nodegroupName=None, fargateProfileName=None, addonName=None, message=what
    )


def _respond_list_addons(self: EKSResponse) -> ActionResult:
    names = sorted(_eks_store(self.eks_backend, str(self._get_param("name")))["addons"])
    return ActionResult({"addons": names})


def _respond_describe_addon(self: EKSResponse) -> ActionResult:
    cluster, name = str(self._get_param("name")), str(self._get_param("addonName"))
    found = _eks_store(self.eks_backend, cluster)["addons"].get(name)
    if found is None:
        raise _not_found(cluster, f"No addon: {name} found in cluster: {cluster}")
    return ActionResult({"addon": found})


def _respond_list_access_entries(self: EKSResponse) -> ActionResult:
    principals = sorted(_eks_store(self.eks_backend, str(self._get_param("name")))["access"])
    return ActionResult({"accessEntries": principals})


def _respond_describe_access_entry(self: EKSResponse) -> ActionResult:
    cluster = str(self._get_param("name"))
    principal = unquote(str(self._get_param("principalArn")))
    found = _eks_store(self.eks_backend, cluster)["access"].get(principal)
    if found is None:
        raise _not_found(cluster, f"The specified principalArn could not be found: {principal}")
    return ActionResult({"accessEntry": found})


_EKS_PATHS = {
    "{0}/clusters/(?P<name>[^/]+)/addons$": "list_addons",
    "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$": "describe_addon",
    "{0}/clusters/(?P<name>[^/]+)/access-entries$": "list_access_entries",
    "{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$": "describe_access_entry",
}


def apply() -> None:
    with _LOCK:
        if _APPLIED:
            return
        _APPLIED["create_db_snapshot"] = RDSBackend.create_db_snapshot
        _APPLIED["copy_db_snapshot"] = RDSBackend.copy_db_snapshot
        _APPLIED["describe_db_snapshots"] = RDSBackend.describe_db_snapshots
        _APPLIED["restore_db_instance_from_db_snapshot"] = RDSBackend.restore_db_instance_from_db_snapshot
        _APPLIED["address"] = DBInstance.address
        _APPLIED["create_snapshot"] = ElastiCacheBackend.create_snapshot
        _APPLIED["describe_snapshots"] = ElastiCacheBackend.describe_snapshots
        _APPLIED["put_object"] = S3Backend.put_object
        RDSBackend.create_db_snapshot = _create_db_snapshot  # type: ignore[method-assign]
        RDSBackend.copy_db_snapshot = _copy_db_snapshot  # type: ignore[method-assign,assignment]
        RDSBackend.describe_db_snapshots = _describe_db_snapshots  # type: ignore[method-assign]
        RDSBackend.restore_db_instance_from_db_snapshot = _restore  # type: ignore[method-assign]
        RDSBackend.start_db_instance_automated_backups_replication = start_automated_backups_replication  # type: ignore[attr-defined]
        RDSResponse.start_db_instance_automated_backups_replication = _respond_start_replication  # type: ignore[attr-defined]
        DBInstance.latest_restorable_time = property(_latest_restorable_time)  # type: ignore[assignment,method-assign]
        DBInstance.db_instance_automated_backups_replications = property(_replications, _set_replications)  # type: ignore[attr-defined]
        DBInstance.address = property(_address)  # type: ignore[assignment,method-assign]
        ElastiCacheBackend.create_snapshot = _create_cache_snapshot  # type: ignore[method-assign]
        ElastiCacheBackend.describe_snapshots = _describe_cache_snapshots  # type: ignore[method-assign]
        ElastiCacheBackend.copy_snapshot = copy_cache_snapshot  # type: ignore[attr-defined]
        ElastiCacheResponse.copy_snapshot = _respond_copy_snapshot  # type: ignore[attr-defined]
        S3Backend.put_object = _put_object  # type: ignore[method-assign]
        EKSResponse.list_addons = _respond_list_addons  # type: ignore[attr-defined]
        EKSResponse.describe_addon = _respond_describe_addon  # type: ignore[attr-defined]
        EKSResponse.list_access_entries = _respond_list_access_entries  # type: ignore[attr-defined]
        EKSResponse.describe_access_entry = _respond_describe_access_entry  # type: ignore[attr-defined]
        dispatch = eks_urls.response.dispatch
        for path in _EKS_PATHS:
            eks_urls.url_paths.setdefault(path, dispatch)


def reset() -> None:
    with _LOCK:
        settings.clear()
        settings.update(DEFAULTS)
        _ENDPOINTS.clear()
        _EKS.clear()
        for hooks in HOOKS.values():
            hooks.clear()


def targets() -> list[str]:
    return [
        "moto.rds.models.RDSBackend.create_db_snapshot",
        "moto.rds.models.RDSBackend.copy_db_snapshot",
        "moto.rds.models.RDSBackend.describe_db_snapshots",
        "moto.rds.models.RDSBackend.restore_db_instance_from_db_snapshot",
        "moto.rds.models.DBInstance.address",
        "moto.rds.models.MasterUserSecret",
        "moto.rds.models.rds_backends",
        "moto.rds.responses.RDSResponse",
        "moto.rds.exceptions.SnapshotQuotaExceededFault",
        "moto.elasticache.models.ElastiCacheBackend.create_snapshot",
        "moto.elasticache.models.ElastiCacheBackend.describe_snapshots",
        "moto.elasticache.models.Snapshot",
        "moto.elasticache.responses.ElastiCacheResponse",
        "moto.s3.models.S3Backend.put_object",
        "moto.s3.models.s3_backends",
        "moto.eks.urls.url_paths",
        "moto.eks.responses.EKSResponse",
        "moto.core.utils.utcnow",
    ]
