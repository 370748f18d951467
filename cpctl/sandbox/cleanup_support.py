"""What the Cleanup workflow needs in the sandbox: the platform's backup buckets (home and DR region) and a
history of backups over months, following the conventions every branch shares:

- RDS manual snapshots ``cp-<db-id>-<YYYY-MM-DD>`` (the DR copy has the same id in the DR region), tagged
  ``ManagedBy=controlplane``, ``SourceIdentifier``, ``RetentionClass``, ``CreatedBy=backup/<execution>``;
- ElastiCache snapshots ``cp-<group-id>-<YYYY-MM-DD>`` exported to
  ``s3://<project>-<env>-backups/elasticache/<group-id>/<YYYY-MM-DD>/``;
- restore-drill instances ``drill-<db-id>-<YYYYMMDDHHMM>`` tagged ``Purpose=restore-drill``, ``DrillDeadline``.

Snapshots are put straight into moto's backends with their creation time in the past (the API cannot
backdate them, and a 10,000-snapshot history through the API would take minutes); they are then listed,
read and deleted through the API like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cpctl.sandbox.runtime import Sandbox

ACCOUNT = "123456789012"


def dr_region(sandbox: Sandbox) -> str:
    return str(sandbox.tfvars.get("dr_region", "us-west-2"))


def buckets(sandbox: Sandbox) -> dict[str, str]:
    """region -> backups bucket (Terraform's names)."""
    project, env = sandbox.tfvars.get("project", "sip"), sandbox.environment
    return {sandbox.region: f"{project}-{env}-backups", dr_region(sandbox): f"{project}-{env}-backups-dr"}


def create_buckets(sandbox: Sandbox) -> dict[str, str]:
    from controlplane.aws import new_session

    from cpctl.sandbox.runtime import ADMIN_CREDENTIALS

    for region, bucket in buckets(sandbox).items():
        s3 = new_session().client(
            "s3",
            region_name=region,
            aws_access_key_id=ADMIN_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=ADMIN_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket in existing:
            continue
        extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **extra)
    return buckets(sandbox)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def managed_tags(source: str, retention: str = "daily", execution: str = "seed") -> dict[str, str]:
    return {
        "ManagedBy": "controlplane",
        "SourceIdentifier": source,
        "RetentionClass": retention,
        "CreatedBy": f"backup/{execution}",
    }


def put_rds_snapshot(
    sandbox: Sandbox,
    snapshot_id: str,
    created: datetime,
    tags: dict[str, str] | None = None,
    region: str | None = None,
    source: str | None = None,
    snapshot_type: str = "manual",
    status: str = "available",
) -> None:
    from moto.rds.models import DBSnapshot, rds_backends

    home = rds_backends[ACCOUNT][sandbox.region]
    backend = rds_backends[ACCOUNT][region or sandbox.region]
    database = home.databases[sandbox.primary_id]
    snapshot = DBSnapshot(
        backend,
        database,
        snapshot_id,
        snapshot_type=snapshot_type,
        tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        original_created_at=_naive(created),
    )
    snapshot.created = _naive(created)
    snapshot.status = status
    if source and source != database.db_instance_identifier:
        snapshot.db_instance_identifier = source
    backend.database_snapshots[snapshot.db_snapshot_identifier] = snapshot


def put_cache_snapshot(
    sandbox: Sandbox,
    name: str,
    created: datetime,
    tags: dict[str, str] | None = None,
    region: str | None = None,
    group: str | None = None,
) -> None:
    from moto.elasticache.models import Snapshot, elasticache_backends

    backend = elasticache_backends[ACCOUNT][region or sandbox.region]
    fields: dict[str, Any] = dict.fromkeys(
        Snapshot.__init__.__code__.co_varnames[1 : Snapshot.__init__.__code__.co_argcount]
    )
    fields |= {
        "account_id": ACCOUNT,
        "region_name": region or sandbox.region,
        "replication_group_id": group or sandbox.cache_group_id,
        "snapshot_name": name,
        "snapshot_source": "manual",
        "snapshot_status": "available",
        "engine": "redis",
        "tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }
    snapshot = Snapshot(**fields)
    snapshot.sandbox_created_at = created  # type: ignore[attr-defined]
    backend.snapshots[name] = snapshot
    if tags:
        backend.tagging_service.tag_resource(snapshot.arn, [{"Key": k, "Value": v} for k, v in tags.items()])


def put_export(sandbox: Sandbox, group: str, day: date, region: str | None = None, objects: int = 2) -> None:
    bucket = buckets(sandbox)[region or sandbox.region]
    from moto.s3.models import s3_backends

    backend = s3_backends[ACCOUNT]["aws"]
    for index in range(objects):
        backend.put_object(bucket, f"elasticache/{group}/{day:%Y-%m-%d}/part-{index:04d}.rdb", b"sandbox")


@dataclass
class History:
    """What ``seed_history`` made, so scenarios and tests can say what must stay."""

    rds: list[str] = field(default_factory=list)
    dr: list[str] = field(default_factory=list)
    cache: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    automated: list[str] = field(default_factory=list)
    drills: dict[str, datetime] = field(default_factory=dict)


def backup_days(today: date, months: int = 8) -> list[date]:
    """The days a tidy GFS history has: the last 10 days, Sundays of 6 weeks, month ends of ``months`` months."""
    days = {today - timedelta(days=n) for n in range(0, 10)}
    sunday = today - timedelta(days=(today.weekday() + 1) % 7)
    days |= {sunday - timedelta(weeks=n) for n in range(0, 6)}
    first = today.replace(day=1)
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        days.add(nxt - timedelta(days=1))
    return sorted(days)


def seed_history(sandbox: Sandbox, now: datetime, months: int = 7, cache_months: int = 3) -> History:
    """Months of nightly backups of the primary (home and DR copies) and the cache group, with their exports,
    plus what cleanup must never touch and two restore drills (one past its deadline)."""
    create_buckets(sandbox)
    history = History()
    db, group, dr = sandbox.primary_id, sandbox.cache_group_id, dr_region(sandbox)
    for day in backup_days(now.date(), months):
        at = datetime(day.year, day.month, day.day, 2, 15, tzinfo=UTC)
        name = f"cp-{db}-{day:%Y-%m-%d}"
        put_rds_snapshot(sandbox, name, at, managed_tags(db))
        put_rds_snapshot(sandbox, name, at + timedelta(minutes=40), managed_tags(db), region=dr)
        history.rds.append(name)
        history.dr.append(name)
    for day in backup_days(now.date(), cache_months):
        at = datetime(day.year, day.month, day.day, 2, 15, tzinfo=UTC)
        cache_name = f"cp-{group}-{day:%Y-%m-%d}"
        put_cache_snapshot(sandbox, cache_name, at, managed_tags(group))
        put_export(sandbox, group, day)
        history.cache.append(cache_name)
        history.exports.append(f"elasticache/{group}/{day:%Y-%m-%d}/")
    year_ago = now - timedelta(days=400)
    for name, tags in (
        (f"cp-{db}-legal-2025", {**managed_tags(db), "LegalHold": "true"}),
        (f"cp-{db}-protected-2025", {**managed_tags(db), "Protected": "true"}),
    ):
        put_rds_snapshot(sandbox, name, year_ago, tags)
        history.protected.append(name)
    put_rds_snapshot(sandbox, f"{db}-before-upgrade", year_ago, {"Owner": "dba-team"})
    history.foreign.append(f"{db}-before-upgrade")
    automated = f"rds:{db}-{year_ago:%Y-%m-%d-%H-%M}"
    put_rds_snapshot(sandbox, automated, year_ago, {"ManagedBy": "controlplane"}, snapshot_type="automated")
    history.automated.append(automated)
    for minutes_left, label in ((-90, "late"), (120, "running")):
        started = now - timedelta(hours=3)
        drill = f"drill-{db}-{started:%Y%m%d%H%M}"[: 63 - len(label)] + label[:1]
        deadline = now + timedelta(minutes=minutes_left)
        create_drill_instance(sandbox, drill, db, deadline)
        history.drills[drill] = deadline
    return history


def create_drill_instance(sandbox: Sandbox, identifier: str, source: str, deadline: datetime) -> None:
    sandbox.client("rds").create_db_instance(
        DBInstanceIdentifier=identifier,
        Engine="postgres",
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=20,
        MasterUsername="drill",
        MasterUserPassword="drill-password-1",
        Tags=[
            {"Key": "ManagedBy", "Value": "controlplane"},
            {"Key": "Purpose", "Value": "restore-drill"},
            {"Key": "SourceIdentifier", "Value": source},
            {"Key": "DrillDeadline", "Value": deadline.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        ],
    )


def seed_burst(sandbox: Sandbox, now: datetime, count: int, source: str | None = None) -> list[str]:
    """``count`` daily snapshots from well over a year ago (a history a broken job left): all past retention."""
    db = source or sandbox.primary_id
    names = []
    start = now - timedelta(days=500)
    for n in range(count):
        at = start + timedelta(days=n)
        name = f"cp-{db}-{at:%Y-%m-%d}"
        put_rds_snapshot(sandbox, name, at, managed_tags(db))
        names.append(name)
    return names


def seed_synthetic(sandbox: Sandbox, now: datetime, sources: int, per_source: int) -> int:
    """``sources`` x ``per_source`` daily RDS snapshots (the scale test): sources are named after the primary."""
    count = 0
    for s in range(sources):
        source = sandbox.primary_id if s == 0 else f"{sandbox.primary_id}-s{s:03d}"
        for n in range(per_source):
            at = now - timedelta(days=n, hours=s % 7)
            put_rds_snapshot(sandbox, f"cp-{source}-{at:%Y-%m-%d}", at, managed_tags(source), source=source)
            count += 1
    return count


def seed_metrics(sandbox: Sandbox, now: datetime, days: int = 7, every_hours: int = 6) -> None:
    """A week of utilization as CloudWatch would have it: busy general nodes, an idle spot group, an idle
    cache (15 % memory), a primary at 35 % CPU, and the control plane's Lambda durations."""
    cloudwatch, eks = sandbox.client("cloudwatch"), sandbox.client("eks")
    cluster = str(sandbox.tfvars["eks_cluster_name"])
    series: list[tuple[str, str, str, str, float]] = []
    cpu_by_group = {"general": 55.0, "cpu_optimized": 12.0, "spot": 8.0}
    for name in eks.list_nodegroups(clusterName=cluster)["nodegroups"]:
        group = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
        for asg in group.get("resources", {}).get("autoScalingGroups", []):
            level = cpu_by_group.get(name, 40.0)
            series.append(("AWS/EC2", "CPUUtilization", "AutoScalingGroupName", asg["name"], level))
    for instance in sandbox.client("rds").describe_db_instances()["DBInstances"]:
        identifier = instance["DBInstanceIdentifier"]
        if identifier == sandbox.primary_id:
            series += [
                ("AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", identifier, 35.0),
                ("AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", identifier, 80.0),
            ]
        elif instance.get("ReadReplicaSourceDBInstanceIdentifier"):
            series += [
                ("AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", identifier, 2.0),
                ("AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", identifier, 0.0),
            ]
    group = sandbox.client("elasticache").describe_replication_groups(ReplicationGroupId=sandbox.cache_group_id)
    for member in group["ReplicationGroups"][0]["MemberClusters"]:
        series += [
            ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", member, 15.0),
            ("AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", member, 6.0),
        ]
    for function in sandbox.client("lambda").list_functions()["Functions"]:
        series += [
            ("AWS/Lambda", "Duration", "FunctionName", function["FunctionName"], 900.0),
            ("AWS/Lambda", "Invocations", "FunctionName", function["FunctionName"], 3.0),
        ]
    data = []
    for namespace, metric, dimension, value, level in series:
        for step in range(0, days * 24, every_hours):
            data.append(
                (
                    namespace,
                    {
                        "MetricName": metric,
                        "Dimensions": [{"Name": dimension, "Value": value}],
                        "Value": level,
                        "Timestamp": now - timedelta(hours=step + 1),
                    },
                )
            )
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for namespace, datum in data:
        by_namespace.setdefault(namespace, []).append(datum)
    # 20 datapoints a call: larger PutMetricData bodies are gzip-compressed by botocore, which the sandbox's
    # fault matching cannot read (cpctl/sandbox/moto_patches/faults.py decodes bodies as text).
    for namespace, items in by_namespace.items():
        for start in range(0, len(items), 20):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=items[start : start + 20])


def capture_samples() -> dict[str, Any]:
    """The event each task of a sample Cleanup and Cost review received, by ``<function dir>/<task>.json``
    (``python -m cpctl.sandbox.cleanup_support`` writes them to events/ for ``sam local invoke -e``)."""
    import json as _json

    from controlplane import clock

    from cpctl import REPO_ROOT
    from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY
    from cpctl.sandbox.runtime import Sandbox
    from cpctl.sandbox.samples import _function_dirs

    dirs = _function_dirs()
    samples: dict[str, Any] = {}
    with Sandbox() as sandbox:
        seed_history(sandbox, clock.now())
        seed_metrics(sandbox, clock.now())
        runs = (
            ("CleanupStateMachine", "events/cleanup/scheduled.json", "sample-cleanup"),
            ("CostReviewStateMachine", "events/cost_review/weekly.json", "sample-cost-review"),
        )
        for machine, request, name in runs:
            report = sandbox.run(machine, _json.loads((REPO_ROOT / request).read_text()), name=name)
            if report.outcome != "Succeeded":
                raise RuntimeError(f"{name} ended {report.outcome}: {report.reason}")
        for invocation in REGISTRY.invocations:
            event = invocation["event"]
            if invocation["execution"] in ("sample-cleanup", "sample-cost-review") and isinstance(event, dict):
                samples.setdefault(f"{dirs[invocation['function']]}/{event.get('task')}.json", event)
    return samples


if __name__ == "__main__":
    from cpctl.sandbox.samples import write

    for path in write(capture_samples()):
        print(path)
