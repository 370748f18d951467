"""Which IAM action on which resource ARN an AWS API request needs, per the Service Authorization Reference.

moto checks a request's action only against ``Resource: "*"`` (it passes ``"*"`` as the resource for
every service but IAM, STS and SQS), so a policy scoped to a table or a node group would never match
and a policy on ``*`` would always do. The sandbox's enforcement asks this table instead: for one
request it returns every (action, resource ARN) pair AWS authorizes, and each must be allowed.

- Most operations need the action of the same name on the resource the request names.
- Some need more than one: ``CreateDBInstanceReadReplica`` is authorized on the new replica, its
  source and the option group, parameter group and subnet group the replica inherits; a request that
  tags on create also needs ``AddTagsToResource``; ``TransactWriteItems`` and ``BatchGetItem`` are
  authorized per item as ``PutItem`` / ``UpdateItem`` / ``DeleteItem`` / ``ConditionCheckItem`` /
  ``GetItem`` on each table (there is no IAM action for the transaction itself).
- Operations that support no resource-level permission (``cloudwatch:GetMetricData``) need ``*``.
- An ARN that embeds a server-side id (an EKS node group's UUID, a secret's suffix) is read from moto.

An operation missing here is refused with a message that says so: add it (with the reference's
resource types) rather than letting the sandbox pass what AWS might refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Authorization = tuple[str, str]


@dataclass(frozen=True)
class RequestContext:
    """One request as the table sees it: its parameters (by API member name), account and region."""

    prefix: str
    operation: str
    params: Callable[[str], Any]
    account: str
    region: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def param(self, name: str, default: Any = None) -> Any:
        value = self.params(name)
        return default if value is None else value


class UnmappedOperation(LookupError):
    """The sandbox does not know which resources this operation is authorized on."""


Rule = Callable[[RequestContext], list[Authorization]]
_RULES: dict[tuple[str, str], Rule] = {}
# IAM action names that differ from the API operation's name.
_ACTION_NAMES = {("lambda", "Invoke"): "InvokeFunction", ("lambda", "InvokeAsync"): "InvokeAsync"}
# The IAM service prefix of a SigV4 signing name, where they differ.
SIGNING_NAME_TO_PREFIX = {"monitoring": "cloudwatch"}


def rule(prefix: str, *operations: str) -> Callable[[Rule], Rule]:
    def register(function: Rule) -> Rule:
        for operation in operations:
            _RULES[(prefix, operation)] = function
        return function

    return register


def authorizations(context: RequestContext) -> list[Authorization]:
    """Every (``prefix:Action``, resource ARN) this request must be allowed."""
    found = _RULES.get((context.prefix, context.operation))
    if found is None:
        raise UnmappedOperation(
            f"the sandbox does not know the IAM resources of {context.prefix}:{context.operation}; "
            "add a rule to cpctl/sandbox/iam_resources.py or cpctl/sandbox/iam_rules/ (Service Authorization Reference)"
        )
    return found(context)


def action(context: RequestContext, name: str | None = None) -> str:
    operation = name or context.operation
    return f"{context.prefix}:{_ACTION_NAMES.get((context.prefix, operation), operation)}"


def known_operations() -> set[tuple[str, str]]:
    return set(_RULES)


# --- operations without resource-level permissions -----------------------------------------------


@rule("cloudwatch", "GetMetricData", "GetMetricStatistics", "PutMetricData", "ListMetrics")
@rule("dynamodb", "ListTables")
@rule("eks", "ListClusters")
@rule("sns", "ListTopics")
@rule("states", "ListStateMachines", "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")
@rule("sts", "GetCallerIdentity")
@rule("secretsmanager", "GetRandomPassword", "ListSecrets")
@rule("kms", "ListKeys", "ListAliases")
@rule("rds", "DescribeDBEngineVersions", "DescribeOrderableDBInstanceOptions")
def _any_resource(context: RequestContext) -> list[Authorization]:
    return [(action(context), "*")]


# --- DynamoDB --------------------------------------------------------------------------------------


def _table(context: RequestContext, name: str) -> str:
    return name if name.startswith("arn:") else context.arn("dynamodb", f"table/{name}")


@rule(
    "dynamodb",
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "DescribeTable",
    "DescribeTimeToLive",
    "UpdateTimeToLive",
    "DescribeContinuousBackups",
    "UpdateContinuousBackups",
    "CreateTable",
    "DeleteTable",
    "UpdateTable",
)
def _dynamodb_table(context: RequestContext) -> list[Authorization]:
    return [(action(context), _table(context, str(context.param("TableName"))))]


@rule("dynamodb", "Query", "Scan")
def _dynamodb_read(context: RequestContext) -> list[Authorization]:
    table = _table(context, str(context.param("TableName")))
    index = context.param("IndexName")
    return [(action(context), f"{table}/index/{index}" if index else table)]


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@rule("dynamodb", "TransactWriteItems")
def _dynamodb_transact_write(context: RequestContext) -> list[Authorization]:
    found: list[Authorization] = []
    for item in context.param("TransactItems", []):
        for kind, operation in _TRANSACT_ACTIONS.items():
            if kind in item:
                found.append((action(context, operation), _table(context, str(item[kind]["TableName"]))))
    return found


@rule("dynamodb", "TransactGetItems")
def _dynamodb_transact_get(context: RequestContext) -> list[Authorization]:
    return [
        (action(context, "GetItem"), _table(context, str(item["Get"]["TableName"])))
        for item in context.param("TransactItems", [])
    ]


@rule("dynamodb", "BatchGetItem", "BatchWriteItem")
def _dynamodb_batch(context: RequestContext) -> list[Authorization]:
    return [(action(context), _table(context, str(name))) for name in context.param("RequestItems", {})]


# --- EKS -------------------------------------------------------------------------------------------


def _eks_backend(context: RequestContext) -> Any:
    from moto.eks.models import eks_backends

    return eks_backends[context.account][context.region]


def _nodegroup_arn(context: RequestContext, cluster: str, nodegroup: str) -> str:
    """A node group's ARN ends in a UUID AWS assigns; an unknown group gets a placeholder one."""
    found = _eks_backend(context).clusters.get(cluster)
    group = found.nodegroups.get(nodegroup) if found is not None else None
    if group is not None:
        return str(group.arn)
    return context.arn("eks", f"nodegroup/{cluster}/{nodegroup}/00000000-0000-0000-0000-000000000000")


@rule("eks", "DescribeCluster", "UpdateClusterConfig", "UpdateClusterVersion", "ListNodegroups", "CreateNodegroup")
def _eks_cluster(context: RequestContext) -> list[Authorization]:
    return [(action(context), context.arn("eks", f"cluster/{context.param('name')}"))]


@rule("eks", "DescribeNodegroup", "UpdateNodegroupConfig", "UpdateNodegroupVersion", "DeleteNodegroup")
def _eks_nodegroup(context: RequestContext) -> list[Authorization]:
    arn = _nodegroup_arn(context, str(context.param("name")), str(context.param("nodegroupName")))
    return [(action(context), arn)]


@rule("eks", "DescribeUpdate", "ListUpdates")
def _eks_update(context: RequestContext) -> list[Authorization]:
    """Authorized on the node group when the request names one, else on the cluster."""
    cluster = str(context.param("name"))
    nodegroup = context.param("nodegroupName")
    if nodegroup:
        return [(action(context), _nodegroup_arn(context, cluster, str(nodegroup)))]
    return [(action(context), context.arn("eks", f"cluster/{cluster}"))]


@rule("eks", "TagResource", "UntagResource", "ListTagsForResource")
def _eks_tags(context: RequestContext) -> list[Authorization]:
    return [(action(context), str(context.param("resourceArn")))]


# --- RDS -------------------------------------------------------------------------------------------


def _rds_backend(context: RequestContext) -> Any:
    from moto.rds.models import rds_backends

    return rds_backends[context.account][context.region]


def _db(context: RequestContext, identifier: str) -> str:
    return identifier if identifier.startswith("arn:") else context.arn("rds", f"db:{identifier.lower()}")


def _with_tags(context: RequestContext, resource: str) -> list[Authorization]:
    """Tagging on create is authorized as rds:AddTagsToResource on the new resource too."""
    return [(action(context, "AddTagsToResource"), resource)] if context.param("Tags") else []


@rule("rds", "DescribeDBInstances")
def _rds_describe(context: RequestContext) -> list[Authorization]:
    identifier = context.param("DBInstanceIdentifier")
    return [(action(context), _db(context, str(identifier)) if identifier else context.arn("rds", "db:*"))]


@rule("rds", "DeleteDBInstance", "RebootDBInstance", "ModifyDBInstance", "StartDBInstance", "StopDBInstance")
def _rds_instance(context: RequestContext) -> list[Authorization]:
    return [(action(context), _db(context, str(context.param("DBInstanceIdentifier"))))]


def _rds_groups(source: Any) -> dict[str, str]:
    """The option, parameter and subnet group a replica of ``source`` inherits (moto's DB instance)."""
    if source is None:
        return {}
    found = {"og": str(source.option_group_name)}
    subnet_group = getattr(source, "db_subnet_group", None)
    if subnet_group is not None:
        found["subgrp"] = str(subnet_group.name)
    parameter_groups = source.db_parameter_groups()
    if parameter_groups:
        found["pg"] = str(parameter_groups[0].name)
    return found


@rule("rds", "CreateDBInstanceReadReplica")
def _rds_create_replica(context: RequestContext) -> list[Authorization]:
    replica = _db(context, str(context.param("DBInstanceIdentifier")))
    source_id = str(context.param("SourceDBInstanceIdentifier"))
    source = _rds_backend(context).databases.get(source_id.rsplit(":", 1)[-1])
    inherited = _rds_groups(source)
    option_group = context.param("OptionGroupName") or inherited.get("og") or "default"
    parameter_group = context.param("DBParameterGroupName") or inherited.get("pg")
    subnet_group = context.param("DBSubnetGroupName") or inherited.get("subgrp") or "default"
    found = [
        (action(context), replica),
        (action(context), _db(context, source_id)),
        (action(context), context.arn("rds", f"og:{option_group}")),
        (action(context), context.arn("rds", f"subgrp:{subnet_group}")),
    ]
    if parameter_group:
        found.append((action(context), context.arn("rds", f"pg:{parameter_group}")))
    return found + _with_tags(context, replica)


@rule("rds", "CreateDBInstance")
def _rds_create(context: RequestContext) -> list[Authorization]:
    instance = _db(context, str(context.param("DBInstanceIdentifier")))
    return [(action(context), instance), *_with_tags(context, instance)]


@rule("rds", "AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource")
def _rds_tags(context: RequestContext) -> list[Authorization]:
    return [(action(context), str(context.param("ResourceName")))]


@rule("rds", "CreateDBSnapshot")
def _rds_create_snapshot(context: RequestContext) -> list[Authorization]:
    snapshot = context.arn("rds", f"snapshot:{context.param('DBSnapshotIdentifier')}")
    instance = _db(context, str(context.param("DBInstanceIdentifier")))
    return [(action(context), instance), (action(context), snapshot), *_with_tags(context, snapshot)]


@rule("rds", "DescribeDBSnapshots")
def _rds_describe_snapshots(context: RequestContext) -> list[Authorization]:
    snapshot = context.param("DBSnapshotIdentifier")
    instance = context.param("DBInstanceIdentifier")
    if snapshot:
        return [(action(context), context.arn("rds", f"snapshot:{snapshot}"))]
    if instance:
        return [(action(context), _db(context, str(instance)))]
    return [(action(context), context.arn("rds", "snapshot:*"))]


@rule("rds", "DeleteDBSnapshot")
def _rds_delete_snapshot(context: RequestContext) -> list[Authorization]:
    return [(action(context), context.arn("rds", f"snapshot:{context.param('DBSnapshotIdentifier')}"))]


# --- ElastiCache -----------------------------------------------------------------------------------


def _replication_group(context: RequestContext, name: str) -> str:
    return context.arn("elasticache", f"replicationgroup:{name}")


@rule("elasticache", "DescribeReplicationGroups")
def _elasticache_describe(context: RequestContext) -> list[Authorization]:
    group = context.param("ReplicationGroupId")
    return [(action(context), _replication_group(context, str(group) if group else "*"))]


@rule(
    "elasticache",
    "ModifyReplicationGroup",
    "ModifyReplicationGroupShardConfiguration",
    "IncreaseReplicaCount",
    "DecreaseReplicaCount",
    "DeleteReplicationGroup",
    "TestFailover",
)
def _elasticache_group(context: RequestContext) -> list[Authorization]:
    return [(action(context), _replication_group(context, str(context.param("ReplicationGroupId"))))]


@rule("elasticache", "DescribeCacheClusters")
def _elasticache_clusters(context: RequestContext) -> list[Authorization]:
    cluster = context.param("CacheClusterId")
    return [(action(context), context.arn("elasticache", f"cluster:{cluster or '*'}"))]


@rule("elasticache", "ListTagsForResource", "AddTagsToResource", "RemoveTagsFromResource")
def _elasticache_tags(context: RequestContext) -> list[Authorization]:
    return [(action(context), str(context.param("ResourceName")))]


@rule("elasticache", "CreateSnapshot")
def _elasticache_snapshot(context: RequestContext) -> list[Authorization]:
    snapshot = context.arn("elasticache", f"snapshot:{context.param('SnapshotName')}")
    group = context.param("ReplicationGroupId")
    source = (
        _replication_group(context, str(group))
        if group
        else context.arn("elasticache", f"cluster:{context.param('CacheClusterId')}")
    )
    return [(action(context), source), (action(context), snapshot)]


# --- SNS, EventBridge, Step Functions, Lambda, KMS, CloudWatch alarms, Secrets Manager, STS -------


@rule("sns", "Publish")
def _sns_publish(context: RequestContext) -> list[Authorization]:
    return [(action(context), str(context.param("TopicArn") or context.param("TargetArn")))]


@rule("sns", "GetTopicAttributes", "Subscribe", "ListSubscriptionsByTopic")
def _sns_topic(context: RequestContext) -> list[Authorization]:
    return [(action(context), str(context.param("TopicArn")))]


def _event_bus(context: RequestContext, name: str | None) -> str:
    name = name or "default"
    return name if name.startswith("arn:") else context.arn("events", f"event-bus/{name}")


@rule("events", "PutEvents")
def _events_put(context: RequestContext) -> list[Authorization]:
    buses = {_event_bus(context, entry.get("EventBusName")) for entry in context.param("Entries", [])}
    return [(action(context), bus) for bus in sorted(buses)]


@rule("events", "PutRule", "DescribeRule", "DeleteRule", "PutTargets", "RemoveTargets", "EnableRule", "DisableRule")
def _events_rule(context: RequestContext) -> list[Authorization]:
    bus = context.param("EventBusName")
    name = context.param("Name") or context.param("Rule")
    path = f"rule/{name}" if not bus or bus == "default" else f"rule/{str(bus).rsplit('/', 1)[-1]}/{name}"
    return [(action(context), context.arn("events", path))]


@rule("states", "StartExecution", "StartSyncExecution", "DescribeStateMachine", "ListExecutions")
def _states_machine(context: RequestContext) -> list[Authorization]:
    return [(action(context), str(context.param("stateMachineArn")))]


@rule("states", "DescribeExecution", "StopExecution", "GetExecutionHistory")
def _states_execution(context: RequestContext) -> list[Authorization]:
    return [(action(context), str(context.param("executionArn")))]


@rule("lambda", "Invoke", "InvokeAsync", "GetFunction", "GetFunctionConfiguration")
def _lambda_function(context: RequestContext) -> list[Authorization]:
    name = str(context.param("FunctionName"))
    arn = name if name.startswith("arn:") else context.arn("lambda", f"function:{name}")
    qualifier = context.param("Qualifier")
    return [(action(context), f"{arn}:{qualifier}" if qualifier and arn.count(":") == 6 else arn)]


def _kms_key(context: RequestContext, key: str) -> str:
    """A key named by id, ARN or alias, as the key's ARN (KMS authorizes on the key, not the alias)."""
    if key.startswith("arn:") and ":key/" in key:
        return key
    from moto.kms.models import kms_backends

    backend = kms_backends[context.account][context.region]
    try:
        return str(backend.describe_key(key).arn)
    except Exception:
        return context.arn("kms", f"key/{key}")


@rule("kms", "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant")
def _kms(context: RequestContext) -> list[Authorization]:
    key = context.param("KeyId")
    if key is None:  # Decrypt may leave the key to the ciphertext
        return [(action(context), "*")]
    return [(action(context), _kms_key(context, str(key)))]


@rule("cloudwatch", "SetAlarmState", "DescribeAlarmHistory")
def _cloudwatch_alarm(context: RequestContext) -> list[Authorization]:
    return [(action(context), context.arn("cloudwatch", f"alarm:{context.param('AlarmName')}"))]


@rule("cloudwatch", "DescribeAlarms")
def _cloudwatch_describe_alarms(context: RequestContext) -> list[Authorization]:
    names = context.param("AlarmNames") or ["*"]
    return [(action(context), context.arn("cloudwatch", f"alarm:{name}")) for name in names]


def _secret(context: RequestContext, secret_id: str) -> str:
    """A secret named by name or ARN, as its ARN (which ends in a suffix Secrets Manager adds)."""
    if secret_id.startswith("arn:"):
        return secret_id
    from moto.secretsmanager.models import secretsmanager_backends

    secrets = secretsmanager_backends[context.account][context.region].secrets
    found = secrets.get(secret_id)
    return str(found.arn) if found is not None else context.arn("secretsmanager", f"secret:{secret_id}-??????")


@rule(
    "secretsmanager",
    "GetSecretValue",
    "DescribeSecret",
    "PutSecretValue",
    "UpdateSecretVersionStage",
    "RotateSecret",
    "CancelRotateSecret",
    "UpdateSecret",
    "TagResource",
)
def _secretsmanager(context: RequestContext) -> list[Authorization]:
    return [(action(context), _secret(context, str(context.param("SecretId"))))]


@rule("sts", "AssumeRole")
def _sts_assume_role(context: RequestContext) -> list[Authorization]:
    return [(action(context), str(context.param("RoleArn")))]


# --- Route 53 (global: no region or account in its ARNs) -------------------------------------------


def _hosted_zone(context: RequestContext) -> str:
    zone = str(context.param("HostedZoneId") or context.param("Id") or "")
    return f"arn:aws:route53:::hostedzone/{zone.rsplit('/', 1)[-1]}"


@rule("route53", "ChangeResourceRecordSets", "ListResourceRecordSets", "GetHostedZone")
def _route53_zone(context: RequestContext) -> list[Authorization]:
    return [(action(context), _hosted_zone(context))]


@rule("route53", "GetChange")
def _route53_change(context: RequestContext) -> list[Authorization]:
    change = str(context.param("Id") or "").rsplit("/", 1)[-1]
    return [(action(context), f"arn:aws:route53:::change/{change}")]


@rule("route53", "ListHostedZones", "ListHostedZonesByName")
def _route53_any(context: RequestContext) -> list[Authorization]:
    return [(action(context), "*")]


@rule("cloudwatch", "PutMetricAlarm")
def _cloudwatch_put_alarm(context: RequestContext) -> list[Authorization]:
    alarm = context.arn("cloudwatch", f"alarm:{context.param('AlarmName')}")
    tagged = [(action(context, "TagResource"), alarm)] if context.param("Tags") else []
    return [(action(context), alarm), *tagged]


@rule("cloudwatch", "DeleteAlarms")
def _cloudwatch_delete_alarms(context: RequestContext) -> list[Authorization]:
    return [(action(context), context.arn("cloudwatch", f"alarm:{n}")) for n in context.param("AlarmNames", [])]


# --- SSM Parameter Store -----------------------------------------------------------------------------


def _parameter(context: RequestContext, name: str) -> str:
    return name if name.startswith("arn:") else context.arn("ssm", f"parameter/{name.lstrip('/')}")


@rule("ssm", "GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory", "LabelParameterVersion")
def _ssm_parameter(context: RequestContext) -> list[Authorization]:
    return [(action(context), _parameter(context, str(context.param("Name"))))]


@rule("ssm", "GetParameters", "DeleteParameters")
def _ssm_parameters(context: RequestContext) -> list[Authorization]:
    return [(action(context), _parameter(context, str(name))) for name in context.param("Names", [])]


@rule("ssm", "GetParametersByPath")
def _ssm_parameters_by_path(context: RequestContext) -> list[Authorization]:
    return [(action(context), _parameter(context, str(context.param("Path")).rstrip("/")))]


# --- the rules of other workflows, one module each (cpctl/sandbox/iam_rules/) -----------------------

from cpctl.sandbox import iam_rules  # noqa: E402  (the modules import ``rule`` from here)

iam_rules.load_all()
