"""What the Backup, Restore drill and Recovery workflows need of the platform in the sandbox: what
Terraform would create (the DR KMS key, the platform buckets with versioning, lifecycle, replication and
the ElastiCache export grant, automated-backup replication, EKS add-ons and access entries), and the data
plane that makes a restore real (``attach_database``): snapshots are ``pg_dump`` archives of a real
PostgreSQL, and a restored instance's endpoint is a new real PostgreSQL loaded from one."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpctl.sandbox.moto_patches import backup as backup_patch

if TYPE_CHECKING:
    from cpctl.sandbox.runtime import Sandbox
    from cpctl.sandbox.servers import PostgresServer

DR_KEY_PARAMETER = "/sip/{env}/backup/dr-kms-key-arn"


def reset() -> None:
    """Settings, endpoint maps, hooks and seeded EKS parts of a previous sandbox do not carry over."""
    backup_patch.reset()


def dr_region(sandbox: Sandbox) -> str:
    return str(sandbox.tfvars.get("dr_region", "us-west-2"))


def bucket_names(sandbox: Sandbox) -> dict[str, str]:
    base = f"{sandbox.tfvars.get('project', 'sip')}-{sandbox.environment}"
    return {"assets": f"{base}-assets", "backups": f"{base}-backups", "backups_dr": f"{base}-backups-dr"}


def publish_outputs(sandbox: Sandbox) -> None:
    """The DR region's KMS key, published as Terraform publishes it (SSM), and the DR region parameter."""
    outputs = sandbox._outputs
    if "DrKmsKeyArn" not in outputs:
        from controlplane.aws import new_session

        from cpctl.sandbox.runtime import ADMIN_CREDENTIALS

        kms = new_session().client(
            "kms",
            region_name=dr_region(sandbox),
            aws_access_key_id=ADMIN_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=ADMIN_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=ADMIN_CREDENTIALS["AWS_SESSION_TOKEN"],
        )
        key = kms.create_key(Description="DR copies of RDS snapshots")["KeyMetadata"]["Arn"]
        outputs["DrKmsKeyArn"] = (DR_KEY_PARAMETER.format(env=sandbox.environment), str(key))
    sandbox.parameters.setdefault("DrRegion", dr_region(sandbox))
    if "DatabaseRecordName" not in outputs:
        outputs["DatabaseRecordName"] = (
            f"/sip/{sandbox.environment}/rds/writer-record-name",
            f"writer.db.sip-{sandbox.environment}.internal",
        )
    zone = outputs.get("ReaderHostedZoneId")
    if zone is not None and sandbox.seed_platform:
        primary = sandbox.client("rds").describe_db_instances(DBInstanceIdentifier=sandbox.primary_id)["DBInstances"][0]
        sandbox.client("route53").change_resource_record_sets(
            HostedZoneId=zone[1],
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": outputs["DatabaseRecordName"][1], "Type": "CNAME", "TTL": 30,
                "ResourceRecords": [{"Value": primary["Endpoint"]["Address"]}]}}]},
        )  # fmt: skip


def client_in(sandbox: Sandbox, service: str, region: str) -> Any:
    from controlplane.aws import new_session

    from cpctl.sandbox.runtime import ADMIN_CREDENTIALS

    return new_session().client(
        service,
        region_name=region,
        aws_access_key_id=ADMIN_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ADMIN_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=ADMIN_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


def seed(sandbox: Sandbox) -> None:
    """Buckets, automated-backup replication and the cluster's add-ons and access entries."""
    names = bucket_names(sandbox)
    home = sandbox.client("s3")
    dr = client_in(sandbox, "s3", dr_region(sandbox))
    lifecycle = {
        "Rules": [
            {
                "ID": "noncurrent-versions",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
            }
        ]
    }
    for name, client, region in (
        (names["assets"], home, sandbox.region),
        (names["backups"], home, sandbox.region),
        (names["backups_dr"], dr, dr_region(sandbox)),
    ):
        if region == "us-east-1":
            client.create_bucket(Bucket=name)
        else:
            client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        client.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration=lifecycle)
        client.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
            },
        )
    role = sandbox._role(f"{names['backups']}-replication", "s3.amazonaws.com")
    home.put_bucket_replication(
        Bucket=names["backups"],
        ReplicationConfiguration={
            "Role": role,
            "Rules": [
                {
                    "ID": "to-dr",
                    "Status": "Enabled",
                    "Priority": 1,
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": f"arn:aws:s3:::{names['backups_dr']}"},
                }
            ],
        },
    )
    owner = home.get_bucket_acl(Bucket=names["backups"])["Owner"]
    grantee = {"Type": "CanonicalUser", "ID": backup_patch.ELASTICACHE_CANONICAL_ID}
    home.put_bucket_acl(
        Bucket=names["backups"],
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
                *({"Grantee": grantee, "Permission": p} for p in ("READ", "WRITE", "READ_ACP")),
            ],
        },
    )
    primary = sandbox.client("rds").describe_db_instances(DBInstanceIdentifier=sandbox.primary_id)["DBInstances"][0]
    client_in(sandbox, "rds", dr_region(sandbox)).start_db_instance_automated_backups_replication(
        SourceDBInstanceArn=primary["DBInstanceArn"],
        BackupRetentionPeriod=int(sandbox.tfvars.get("rds_backup_retention_days", 7)),
    )
    from moto.eks.models import eks_backends

    from cpctl.sandbox.moto_patches.events import ACCOUNT

    eks = eks_backends[ACCOUNT][sandbox.region]
    cluster = str(sandbox.tfvars["eks_cluster_name"])
    for name, version in (
        ("vpc-cni", "v1.18.3-eksbuild.1"),
        ("coredns", "v1.11.1-eksbuild.9"),
        ("kube-proxy", "v1.29.3-eksbuild.2"),
    ):
        backup_patch.seed_addon(eks, cluster, name, version)
    backup_patch.seed_access_entry(
        eks, cluster, f"arn:aws:iam::{ACCOUNT}:role/{cluster}-platform-admins", ["platform-admins"]
    )


# --- the data plane of restores ---------------------------------------------------------------------


@dataclass
class DataPlane:
    """The source database's PostgreSQL, the dumps its snapshots are, and the servers restores started."""

    source: PostgresServer
    database: str = "sip"
    dumps: dict[tuple[str, str], Path] = field(default_factory=dict)
    restored: dict[str, PostgresServer] = field(default_factory=dict)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sandbox-dumps-")))
    # Set by a test or the demo: a restore then loses rows of this table (a corrupted restore).
    corrupt_next: str | None = None
    source_instance: str = ""
    region: str = ""
    previous_port: int = 5432

    def on_snapshot(self, region: str, snapshot_id: str, instance_id: str) -> None:
        if instance_id != self.source_instance:
            return
        from cpctl.sandbox.servers import find_binary

        path = self.directory / f"{region}-{snapshot_id}.dump"
        env = {"PGPASSWORD": self.source.password}
        command = [str(find_binary("pg_dump")), "-Fc", "-h", self.source.host, "-p", str(self.source.port),
                   "-U", self.source.superuser, "-f", str(path), self.database]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, env={**_base_env(), **env}, timeout=120)
        # An RDS snapshot is the whole instance, roles included (the rotation's users and their clones):
        # the roles travel beside the database's dump, or its grants would not restore.
        # (No passwords: the restored instance's master password is the one its new secret holds.)
        roles_file = str(path.with_suffix(".roles.sql"))
        roles = [str(find_binary("pg_dumpall")), "--globals-only", "--no-role-passwords", "-h", self.source.host,
                 "-p", str(self.source.port), "-U", self.source.superuser, "-f", roles_file]  # fmt: skip
        subprocess.run(roles, check=True, capture_output=True, env={**_base_env(), **env}, timeout=120)
        self.dumps[(region, snapshot_id)] = path

    def on_copy(self, source_region: str, target_region: str, snapshot_id: str) -> None:
        found = self.dumps.get((source_region, snapshot_id))
        if found is not None:
            self.dumps[(target_region, snapshot_id)] = found

    def on_restore(self, region: str, instance_id: str, snapshot_id: str, secret_arn: str | None) -> None:
        dump = self.dumps.get((region, snapshot_id))
        if dump is None:
            return
        from cpctl.sandbox.servers import PostgresServer, find_binary, generate_password

        password = generate_password()
        if secret_arn:
            # What RDS puts in a managed master secret: the master user name and its password.
            _put_secret(region, secret_arn, {"username": self.source.superuser, "password": password})
        server = PostgresServer(superuser=self.source.superuser, database=self.database, password=password).start()
        self.restored[instance_id] = server
        restore_env = {**_base_env(), "PGPASSWORD": password}
        roles = dump.with_suffix(".roles.sql")
        if roles.exists():
            # Without ON_ERROR_STOP: the master role exists already, every other role is created.
            psql = [str(find_binary("psql")), "-q", "-h", server.host, "-p", str(server.port), "-U", server.superuser,
                    "-d", self.database, "-f", str(roles)]  # fmt: skip
            subprocess.run(psql, check=True, capture_output=True, env=restore_env, timeout=120)
        command = [str(find_binary("pg_restore")), "--no-owner", "-h", server.host, "-p", str(server.port),
                   "-U", server.superuser, "-d", self.database, str(dump)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=restore_env, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pg_restore of {dump.name} failed: {done.stderr.strip()[-500:]}")
        if self.corrupt_next:
            with server.connect(database=self.database) as connection:
                connection.run(
                    f"DELETE FROM {self.corrupt_next} WHERE ctid IN (SELECT ctid FROM {self.corrupt_next} LIMIT 50)"
                )
            self.corrupt_next = None
        backup_patch.map_endpoint(region, instance_id, server.host, server.port)
        from moto.rds.models import rds_backends

        from cpctl.sandbox.moto_patches.events import ACCOUNT

        instance = rds_backends[ACCOUNT][region].databases.get(instance_id)
        if instance is not None:
            instance.port = server.port

    def stop(self) -> None:
        """Stop the servers restores started and stop listening to snapshots and restores."""
        for name, hook in (
            ("on_snapshot", self.on_snapshot),
            ("on_copy", self.on_copy),
            ("on_restore", self.on_restore),
        ):
            if hook in backup_patch.HOOKS[name]:
                backup_patch.HOOKS[name].remove(hook)
        if self.region:
            # The primary's endpoint is no longer this source server's.
            backup_patch.unmap_endpoint(self.region, self.source_instance)
            from moto.rds.models import rds_backends

            from cpctl.sandbox.moto_patches.events import ACCOUNT

            primary = rds_backends[ACCOUNT][self.region].databases.get(self.source_instance)
            if primary is not None:
                primary.port = self.previous_port
        for server in self.restored.values():
            server.stop()
        self.restored.clear()
        shutil.rmtree(self.directory, ignore_errors=True)


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL"}}


def _put_secret(region: str, secret_arn: str, value: dict[str, str]) -> None:
    from moto.secretsmanager.models import secretsmanager_backends

    from cpctl.sandbox.moto_patches.events import ACCOUNT

    secretsmanager_backends[ACCOUNT][region].put_secret_value(
        secret_arn,
        json.dumps(value),
        None,  # type: ignore[arg-type]
        str(uuid.uuid4()),
        ["AWSCURRENT"],
    )


def attach_database(sandbox: Sandbox, source: PostgresServer, database: str = "sip") -> DataPlane:
    """Make ``source`` the primary's data: its snapshots dump it, restores load a new server from them."""
    plane = DataPlane(source=source, database=database, source_instance=sandbox.primary_id)
    from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY

    if "VerifyRestoreFunction" in sandbox.resources:
        # The private servers have no TLS (verify/require in AWS), as for the rotation functions.
        REGISTRY.resolve(sandbox.resources["VerifyRestoreFunction"]["Ref"]).environment["DATABASE_TLS"] = "disable"
    from moto.rds.models import rds_backends

    from cpctl.sandbox.moto_patches.events import ACCOUNT

    primary = rds_backends[ACCOUNT][sandbox.region].databases[sandbox.primary_id]
    plane.previous_port = int(primary.port or 5432)
    primary.port = source.port
    backup_patch.map_endpoint(sandbox.region, sandbox.primary_id, source.host, source.port)
    secret = getattr(getattr(primary, "master_user_secret", None), "secret_arn", None)
    value = {"username": source.superuser, "password": source.password}
    try:
        if not secret:
            raise LookupError("no managed master secret")
        _put_secret(sandbox.region, str(secret), value)
    except Exception:  # gone (another scenario replaced it): RDS makes a new one when managing it
        from moto.rds.models import MasterUserSecret

        primary.master_user_secret = MasterUserSecret(primary, None)
        primary.manage_master_user_password = True
        _put_secret(sandbox.region, primary.master_user_secret.secret_arn, value)
    plane.region = sandbox.region
    backup_patch.HOOKS["on_snapshot"].append(plane.on_snapshot)
    backup_patch.HOOKS["on_copy"].append(plane.on_copy)
    backup_patch.HOOKS["on_restore"].append(plane.on_restore)
    return plane


def fire_state_machine_schedule(sandbox: Sandbox, name: str) -> str:
    """Start a schedule's state machine target with its Input, as Scheduler does: the execution ARN."""
    if name in sandbox.resources:
        name = sandbox.resources[name]["Ref"]
    target = sandbox.client("scheduler").get_schedule(Name=name)["Target"]
    if ":stateMachine:" not in str(target["Arn"]):
        raise ValueError(f"{name} does not start a state machine")
    return str(
        sandbox.client("stepfunctions").start_execution(stateMachineArn=target["Arn"], input=target.get("Input", "{}"))[
            "executionArn"
        ]
    )
