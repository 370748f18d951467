"""What the review reads: the platform's priced resources, their CloudWatch metrics, the control plane's runs.

``GetMetricData`` takes at most 500 queries and returns at most 100,800 datapoints per call (CloudWatch API
reference): queries go in chunks of 500, and the policy bounds the period (14 days of hourly points is
336 per query, 168,000 per chunk of 500 … so the client pages with NextToken, which botocore's paginator does).
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from controlplane import aws
from controlplane.costreview.models import OwnCost, PriceTable, Resource, ReviewPolicy
from controlplane.models.errors import TransientAwsError

MAX_QUERIES_PER_CALL = 500


def _safe(call: Any, what: str) -> Any:
    try:
        return call()
    except Exception as exc:
        if aws.is_retryable(exc):
            raise TransientAwsError(f"{what}: {aws.error_code(exc)}") from None
        raise


def _tags(tag_list: Any) -> dict[str, str]:
    if isinstance(tag_list, dict):
        return {str(k): str(v) for k, v in tag_list.items()}
    return {str(t["Key"]): str(t.get("Value", "")) for t in tag_list or []}


def nodegroups(cluster: str) -> list[Resource]:
    eks = aws.client("eks")
    names = [
        n for page in eks.get_paginator("list_nodegroups").paginate(clusterName=cluster) for n in page["nodegroups"]
    ]
    found = []
    for name in names:
        ng = _safe(lambda n=name: eks.describe_nodegroup(clusterName=cluster, nodegroupName=n), "eks DescribeNodegroup")
        ng = ng["nodegroup"]
        groups = [g["name"] for g in ng.get("resources", {}).get("autoScalingGroups", [])]
        found.append(
            Resource(
                kind="nodegroup",
                id=name,
                size=(ng.get("instanceTypes") or ["unknown"])[0],
                count=int(ng.get("scalingConfig", {}).get("desiredSize", 0)),
                capacity_type=str(ng.get("capacityType", "ON_DEMAND")),
                role=f"min {ng.get('scalingConfig', {}).get('minSize', 0)}",
                tags=_tags(ng.get("tags")),
                metric_ids={"asg": groups},
            )
        )
    return found


def db_instances(primary: str) -> list[Resource]:
    rds = aws.client("rds")
    found = []
    for page in rds.get_paginator("describe_db_instances").paginate():
        for raw in page["DBInstances"]:
            identifier = str(raw["DBInstanceIdentifier"])
            source = str(raw.get("ReadReplicaSourceDBInstanceIdentifier") or "").rsplit(":", 1)[-1]
            if primary not in (identifier, source):
                continue
            tags = _tags(raw.get("TagList"))
            found.append(
                Resource(
                    kind="rds_instance",
                    id=identifier,
                    size=str(raw.get("DBInstanceClass")),
                    role="primary" if identifier == primary else "replica",
                    multi_az=bool(raw.get("MultiAZ")),
                    managed_by=tags.get("ManagedBy", ""),
                    tags=tags,
                    metric_ids={"db": [identifier]},
                )
            )
    return found


def cache_groups(group_id: str) -> list[Resource]:
    elasticache = aws.client("elasticache")
    groups = _safe(lambda: elasticache.describe_replication_groups(ReplicationGroupId=group_id), "elasticache")
    found = []
    for group in groups["ReplicationGroups"]:
        node_groups = group.get("NodeGroups", [])
        members = list(group.get("MemberClusters", []))
        shards = len(node_groups) or 1
        replicas = max(0, len(members) // shards - 1) if members else 0
        tags = _tags(
            _safe(lambda g=group: elasticache.list_tags_for_resource(ResourceName=g["ARN"]), "elasticache tags").get(
                "TagList"
            )
            if group.get("ARN")
            else []
        )
        found.append(
            Resource(
                kind="cache_group",
                id=str(group["ReplicationGroupId"]),
                size=str(group.get("CacheNodeType", "unknown")),
                count=len(members),
                shards=shards,
                replicas_per_shard=replicas,
                role=f"{shards} shards x {1 + replicas} nodes",
                tags=tags,
                metric_ids={"members": members},
            )
        )
    return found


# What is read for each kind: (key, namespace, metric name, dimension name, statistic)
QUERIES: dict[str, list[tuple[str, str, str, str, str]]] = {
    "nodegroup": [("cpu", "AWS/EC2", "CPUUtilization", "AutoScalingGroupName", "Average")],
    "rds_instance": [
        ("cpu", "AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "Average"),
        ("connections", "AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", "Average"),
    ],
    "cache_group": [
        ("memory", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", "Average"),
        ("cpu", "AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", "Average"),
    ],
}


def metric_queries(resources: list[Resource], period: int) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str]]]:
    """The GetMetricData queries for every resource, and query id -> (resource id, metric key)."""
    queries: list[dict[str, Any]] = []
    index: dict[str, tuple[str, str]] = {}
    for resource in resources:
        for key, namespace, metric, dimension, stat in QUERIES[resource.kind]:
            for value in next(iter(resource.metric_ids.values()), []):
                qid = f"q{len(queries)}"
                index[qid] = (f"{resource.kind}:{resource.id}", key)
                queries.append(
                    {
                        "Id": qid,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": namespace,
                                "MetricName": metric,
                                "Dimensions": [{"Name": dimension, "Value": value}],
                            },
                            "Period": period,
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
    return queries, index


def get_metric_data(
    queries: list[dict[str, Any]], start: datetime, end: datetime
) -> tuple[dict[str, list[float]], int]:
    """Values per query id, in chunks of at most 500 queries (every page); and the number of calls made."""
    cloudwatch = aws.client("cloudwatch")
    values: dict[str, list[float]] = defaultdict(list)
    calls = 0
    for offset in range(0, len(queries), MAX_QUERIES_PER_CALL):
        chunk = queries[offset : offset + MAX_QUERIES_PER_CALL]
        pages = cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=chunk, StartTime=start, EndTime=end
        )
        try:
            for page in pages:
                calls += 1
                for result in page.get("MetricDataResults", []):
                    values[str(result["Id"])].extend(float(v) for v in result.get("Values", []))
        except Exception as exc:
            if aws.is_retryable(exc):
                raise TransientAwsError(f"cloudwatch GetMetricData: {aws.error_code(exc)}") from None
            raise
    return dict(values), calls


def own_cost(policy: ReviewPolicy, prices: PriceTable, start: datetime, end: datetime) -> tuple[OwnCost, int, int]:
    """Executions and transitions per state machine (transitions from a sample of histories), Lambda GB-seconds
    and invocations per function (CloudWatch ``AWS/Lambda`` Duration and Invocations), priced."""
    # State machines are named sip-controlplane-<workflow>-<env> (template.yaml); functions get CloudFormation's
    # <stack>-<LogicalId>-<suffix> names, the stack's name given as the prefix.
    environment = os.environ.get("ENVIRONMENT", policy.environment)
    prefix = os.environ.get("CONTROLPLANE_FUNCTION_PREFIX", f"sip-controlplane-{environment}-")
    sfn = aws.client("stepfunctions")
    executions: dict[str, int] = {}
    transitions: dict[str, int] = {}
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            name = str(machine["name"])
            if not (name.startswith("sip-controlplane-") and name.endswith(f"-{environment}")):
                continue
            runs = [
                run
                for run_page in sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=machine["stateMachineArn"]
                )
                for run in run_page["executions"]
                if start <= run["startDate"].astimezone(start.tzinfo) <= end
            ]
            sample = runs[: policy.executions_sampled_per_state_machine]
            counted = [_transitions(sfn, str(run["executionArn"])) for run in sample]
            average = sum(counted) / len(counted) if counted else 0.0
            executions[machine["name"]] = len(runs)
            transitions[machine["name"]] = round(average * len(runs))
    functions: dict[str, float] = {}
    for page in aws.client("lambda").get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            if str(function["FunctionName"]).startswith(prefix):
                functions[str(function["FunctionName"])] = float(function.get("MemorySize", 128)) / 1024
    queries = []
    for n, name in enumerate(sorted(functions)):
        for metric, stat in (("Duration", "Sum"), ("Invocations", "Sum")):
            queries.append(
                {
                    "Id": f"{metric.lower()}{n}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": metric,
                            "Dimensions": [{"Name": "FunctionName", "Value": name}],
                        },
                        "Period": int((end - start).total_seconds()),
                        "Stat": stat,
                    },
                }
            )
    values, calls = get_metric_data(queries, start, end) if queries else ({}, 0)
    gb_seconds, invocations = {}, {}
    for n, name in enumerate(sorted(functions)):
        gb_seconds[name] = round(sum(values.get(f"duration{n}", [])) / 1000 * functions[name], 3)
        invocations[name] = int(sum(values.get(f"invocations{n}", [])))
    cost = (
        sum(transitions.values()) / 1000 * prices.stepfunctions_per_1000_transitions
        + sum(gb_seconds.values()) * prices.lambda_per_gb_second
        + sum(invocations.values()) / 1_000_000 * prices.lambda_per_million_requests
    )
    found = OwnCost(
        executions=executions,
        transitions=transitions,
        lambda_gb_seconds=gb_seconds,
        lambda_invocations=invocations,
        cost=round(cost, 4),
    )
    return found, len(queries), calls


def _transitions(sfn: Any, execution_arn: str) -> int:
    """State transitions as Step Functions bills them: one per state entered (history StateEntered events)."""
    count = 0
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        count += sum(1 for event in page["events"] if str(event["type"]).endswith("StateEntered"))
    return count


def period(end: datetime, days: int) -> tuple[datetime, datetime]:
    """The last ``days`` up to now, in whole seconds and rounded up: an execution that started earlier in
    the current second counts (rounding down left out a run started just before the review)."""
    if end.microsecond:
        end = end.replace(microsecond=0) + timedelta(seconds=1)
    return end - timedelta(days=days), end
