"""The sandbox runtime: moto in-process, the template deployed into it, the platform seeded.

``Sandbox`` is what the demo, the workflow tests and the benchmarks use:

    with Sandbox() as sandbox:
        report = sandbox.run("ScaleStateMachine", {...})

Executions run on moto's threads with the real ASL interpreter; the Lambda
bridge runs the real handlers; waits are instant (see ``moto_patches``).
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cpctl import REPO_ROOT
from cpctl.sandbox import (
    backup_support,
    iam,
    moto_patches,
    ops_support,
    platform_deploy_support,
    remediation_support,
    rotation_support,
)
from cpctl.sandbox.moto_patches import codebuild, dynamodb_ttl, iam_enforcement
from cpctl.sandbox.moto_patches import eks as eks_patch
from cpctl.sandbox.moto_patches import rds as rds_patch
from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY, BridgedFunction
from cpctl.sandbox.moto_patches.state import SANDBOX_STATE, SandboxState
from cpctl.sandbox.template import Resolver, TemplateError, load_template, substitute_definition

# The harness's credentials: not an assumed role's, so the sandbox treats them as the account's
# administrator. Bridged functions and state machines get their own role's instead (iam_enforcement).
ADMIN_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
SANDBOX_ENVIRONMENT = {
    **ADMIN_CREDENTIALS,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # Powertools: no X-Ray daemon here; logs kept quiet, metrics still flushed (to the bridge's buffer).
    "POWERTOOLS_TRACE_DISABLED": "true",
    # moto's EC2 backend loads ~1,300 public AMIs per region when it is first used (a third of a
    # sandbox's start); the platform launches no instance from an AMI here.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class ExecutionReport:
    """What one execution did: how it ended, which states it entered, which AWS calls its tasks made."""

    name: str
    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    states_entered: list[str]
    api_calls: Counter[tuple[str, str]]
    duration_seconds: float

    @property
    def outcome(self) -> str:
        """Succeeded/Blocked/DryRun/... from the output, or the error name of a failed execution."""
        if self.output and "status" in self.output:
            return str(self.output["status"])
        return self.error or self.status

    @property
    def reason(self) -> str:
        if self.output and "reason" in self.output:
            return str(self.output["reason"])
        return self.cause or ""

    def calls(self, operation: str, *operations: str) -> int:
        """How many calls of these operations the execution's tasks made (attempts included)."""
        wanted = {operation, *operations}
        return sum(count for (_, op), count in self.api_calls.items() if op in wanted)

    @property
    def aws_calls(self) -> int:
        """AWS API calls made by the tasks (Lambda invocations by the state machine not counted)."""
        return sum(count for (service, _), count in self.api_calls.items() if service != "lambda")


@dataclass
class Sandbox:
    environment: str = "dev"
    region: str = "us-east-1"
    parameters: dict[str, str] = field(default_factory=dict)
    seed_platform: bool = True
    # Authorize what functions and state machines call against their own roles (docs/sandbox.md).
    enforce_iam: bool = True
    # (PostgresServer, RedisServer) behind the emulated RDS endpoint and replication group (rotation).
    real_servers: tuple[Any, Any] | None = None
    template_path: Path = field(default_factory=lambda: REPO_ROOT / "template.yaml")
    state: SandboxState = field(default_factory=lambda: SANDBOX_STATE)
    resources: dict[str, dict[str, str]] = field(default_factory=dict)
    resource_types: dict[str, str] = field(default_factory=dict)
    # EventBridge schemas by registry and name (moto has no EventSchemas service: ops_support.py).
    event_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    tfvars: dict[str, Any] = field(default_factory=dict)
    _mock: Any = None
    _saved_env: dict[str, str] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)
    _iam: iam.TranslatedIam | None = None
    _notifications_url: str = ""
    _events_url: str = ""
    _outputs: dict[str, tuple[str, str]] = field(default_factory=dict)

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from controlplane import aws
        from moto import mock_aws

        moto_patches.apply_all()
        # Handlers that record no metric of their own are normal here; Powertools warns about each.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self._saved_env = dict(os.environ)
        # A client endpoint set for the shell (e.g. for `cpctl sandbox up`) would send the handlers'
        # calls past moto's in-process interception: inside the sandbox there is no endpoint to name.
        for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
            del os.environ[name]
        os.environ.update(SANDBOX_ENVIRONMENT)
        self._mock = mock_aws(
            config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
        )
        self._mock.start()
        aws.reset_clients()
        self.state.reset()
        eks_patch.reset()
        rds_patch.reset()  # settings a test changed (replica lag) do not outlive its sandbox
        backup_support.reset()
        dynamodb_ttl.reset()
        codebuild.reset()
        iam_enforcement.reset()
        iam_enforcement.SESSIONS.enforcing = self.enforce_iam
        _remediation_reset()
        REGISTRY.clear()
        try:
            self.tfvars = load_tfvars(self.environment)
            if self.seed_platform:
                self.seed()
            rotation_support.prepare(self)
            self.publish_platform_outputs()
            self.deploy()
            rotation_support.after_deploy(self)
            self._listen()
        except BaseException:
            # A half-started sandbox must not leave moto mocking the next one.
            self.stop()
            raise

    def stop(self) -> None:
        from controlplane import aws

        _remediation_reset()
        rds_patch.reset()
        rotation_support.reset()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        self._clients.clear()
        REGISTRY.clear()
        iam_enforcement.reset()
        aws.reset_clients()
        os.environ.clear()
        os.environ.update(self._saved_env)

    def client(self, service: str) -> Any:
        """A boto3 client on the sandbox (cached: making clients is the slow part of a deploy)."""
        found = self._clients.get(service)
        if found is None:
            # moto resets boto3's default session when a mock starts, and a fresh session parses
            # botocore's service models again: share the control plane's loader instead.
            from controlplane.aws import new_session

            # Explicit keys: a bridged function's credentials may be in os.environ while it runs.
            found = self._clients[service] = new_session().client(
                service,
                region_name=self.region,
                aws_access_key_id=ADMIN_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=ADMIN_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=ADMIN_CREDENTIALS["AWS_SESSION_TOKEN"],
            )
        return found

    # --- deploying template.yaml -----------------------------------------------------------------

    def deploy(self) -> None:
        template = load_template(self.template_path)
        parameters = {
            "Environment": self.environment,
            "ClusterName": str(self.tfvars["eks_cluster_name"]),
            "RdsPrimaryIdentifier": self.primary_id,
            "CacheReplicationGroupId": self.cache_group_id,
            # Waits are instant here: a realistic interval keeps the verify budgets' poll counts real.
            "PollIntervalSeconds": "30",
            **{name: path for name, (path, _) in self.platform_outputs.items()},
            **self.parameters,
        }
        resolver = Resolver(
            template,
            parameters,
            region=self.region,
            stack_name=f"sip-controlplane-{self.environment}",
            ssm_lookup=self._ssm_value,
        )
        self._iam = iam.translate(template, resolver.parameters, self.region)
        self._create_generated_roles(resolver)
        globals_function = template.get("Globals", {}).get("Function", {})
        creators: dict[str, Callable[[str, dict[str, Any], Resolver], dict[str, str]]] = {
            "AWS::KMS::Key": self._create_key,
            "AWS::IAM::ManagedPolicy": self._create_managed_policy,
            "AWS::SQS::Queue": lambda lid, props, r: remediation_support.create_queue(self, props, r),
            "AWS::Logs::LogGroup": self._create_log_group,
            "AWS::DynamoDB::Table": self._create_table,
            "AWS::SNS::Topic": self._create_topic,
            "AWS::SNS::Subscription": self._create_subscription,
            "AWS::Serverless::LayerVersion": self._create_layer,
            "AWS::Serverless::Function": lambda lid, props, r: self._create_function(lid, props, r, globals_function),
            "AWS::Serverless::StateMachine": self._create_state_machine,
            "AWS::CloudWatch::Alarm": self._create_alarm,
        }
        # Rules, permissions, subscriptions and schedules point at functions: they are created last.
        creators.pop("AWS::SNS::Subscription", None)
        creators.update(remediation_support.creators(self))
        creators.update(ops_support.creators(self))
        creators["AWS::SecretsManager::RotationSchedule"] = lambda lid, props, r: (
            rotation_support.create_rotation_schedule(self, lid, props, r)
        )
        creators = platform_deploy_support.ordered(self, creators)
        order = list(creators)
        resources = template["Resources"]
        unknown = {spec["Type"] for spec in resources.values()} - set(creators)
        if unknown:
            raise TemplateError(f"the sandbox cannot deploy resource types {sorted(unknown)}")
        for resource_type in order:
            for logical_id, spec in resources.items():
                if spec["Type"] != resource_type:
                    continue
                if "Condition" in spec and not resolver.conditions[spec["Condition"]]:
                    continue
                attributes = creators[resource_type](logical_id, spec.get("Properties", {}), resolver)
                resolver.attributes[logical_id] = attributes
                self.resources[logical_id] = attributes
                self.resource_types[logical_id] = resource_type
        self._put_generated_role_policies(resolver)

    # --- IAM: the roles SAM generates (cpctl/sandbox/iam.py), their policies, their sessions -----------

    def _create_generated_roles(self, r: Resolver) -> None:
        """Create SAM's roles first (trust only): functions and state machines name them when created."""
        assert self._iam is not None
        iam_client = self.client("iam")
        for logical_id, role in self._iam.roles.items():
            name = f"{r.stack_name}-{logical_id}"[:64]
            arn = iam_client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(role.trust))["Role"]["Arn"]
            r.attributes[logical_id] = self.resources[logical_id] = {"Ref": name, "Arn": str(arn)}

    def _put_generated_role_policies(self, r: Resolver) -> None:
        """Their policies last: SAM's policy templates name tables, topics and functions created since."""
        assert self._iam is not None
        iam_client = self.client("iam")
        for logical_id, role in self._iam.roles.items():
            name = self.resources[logical_id]["Ref"]
            documents = [(policy_name, r.resolve(document)) for policy_name, document in role.policies]
            documents += [(arn.rsplit("/", 1)[-1], document) for arn, document in role.managed.items()]
            for policy_name, document in documents:
                # IAM reads a document without Version as 2008-10-17 (SAM writes none); moto refuses it.
                versioned = {"Version": "2012-10-17", **document}
                iam_client.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(versioned))

    def _session_for(self, owner: str, role_expression: Any, r: Resolver, session_name: str) -> tuple[str, Any]:
        role_arn = str(r.resolve(role_expression))
        return role_arn, iam_enforcement.assume(self.client("sts"), role_arn, session_name)

    def role_of(self, logical_id: str) -> str:
        """The name of the IAM role a function or state machine runs with."""
        assert self._iam is not None
        expression = self._iam.function_roles.get(logical_id) or self._iam.state_machine_roles[logical_id]
        role_logical_id = expression["Fn::GetAtt"][0] if isinstance(expression, dict) else None
        if role_logical_id and role_logical_id in self.resources:
            return self.resources[role_logical_id]["Ref"]
        return str(expression).rsplit("/", 1)[-1]

    def _ssm_value(self, name: str) -> str:
        return str(self.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])

    def _create_managed_policy(self, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        name = p.get("ManagedPolicyName") or f"{r.stack_name}-{logical_id}"
        arn = self.client("iam").create_policy(PolicyName=name, PolicyDocument=json.dumps(p["PolicyDocument"]))
        return {"Ref": str(arn["Policy"]["Arn"])}

    def _create_key(self, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        key = self.client("kms").create_key(Description=r.resolve(props.get("Description", logical_id)))["KeyMetadata"]
        return {"Ref": key["KeyId"], "Arn": key["Arn"]}

    def _create_log_group(self, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        name = r.resolve(props["LogGroupName"])
        logs = self.client("logs")
        key = props.get("KmsKeyId")
        logs.create_log_group(logGroupName=name, **({"kmsKeyId": r.resolve(key)} if key else {}))
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(r.resolve(props["RetentionInDays"])))
        return {"Ref": name, "Arn": f"arn:aws:logs:{self.region}:{r.account_id}:log-group:{name}:*"}

    def _create_table(self, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        dynamodb = self.client("dynamodb")
        table = dynamodb.create_table(
            TableName=p["TableName"],
            AttributeDefinitions=p["AttributeDefinitions"],
            KeySchema=p["KeySchema"],
            BillingMode=p["BillingMode"],
            SSESpecification=_sse_specification(p.get("SSESpecification", {})),
            DeletionProtectionEnabled=bool(p.get("DeletionProtectionEnabled", False)),
        )["TableDescription"]
        ttl = p.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=p["TableName"], TimeToLiveSpecification=ttl)
        if p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=p["TableName"], PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        return {"Ref": p["TableName"], "Arn": table["TableArn"]}

    def _create_topic(self, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        attributes = {"KmsMasterKeyId": p["KmsMasterKeyId"]} if "KmsMasterKeyId" in p else {}
        arn = self.client("sns").create_topic(Name=p["TopicName"], Attributes=attributes)["TopicArn"]
        return {"Ref": arn, "TopicArn": arn, "TopicName": p["TopicName"]}

    def _create_subscription(self, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        arn = self.client("sns").subscribe(TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"])
        return {"Ref": arn["SubscriptionArn"]}

    def _create_layer(self, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        # The layer's code is on sys.path already (cpctl adds layers/common/python), as /opt/python is in Lambda.
        name = r.resolve(props["LayerName"])
        return {"Ref": f"arn:aws:lambda:{self.region}:{r.account_id}:layer:{name}:1"}

    def _role(self, name: str, service: str) -> str:
        iam_client = self.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
        try:
            return str(iam_client.get_role(RoleName=name)["Role"]["Arn"])
        except iam_client.exceptions.NoSuchEntityException:
            return str(iam_client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])

    def _create_function(
        self, logical_id: str, props: dict[str, Any], r: Resolver, globals_function: dict[str, Any]
    ) -> dict[str, str]:
        merged = {**globals_function, **props}
        environment = {
            **r.resolve(globals_function.get("Environment", {}).get("Variables", {})),
            **r.resolve(props.get("Environment", {}).get("Variables", {})),
        }
        name = f"{r.stack_name}-{logical_id}"
        assert self._iam is not None
        role_arn, session = self._session_for(logical_id, self._iam.function_roles[logical_id], r, name)
        code_dir = REPO_ROOT / str(merged["CodeUri"])
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            for path in code_dir.glob("*.py"):
                zf.write(path, path.name)
        function = self.client("lambda").create_function(
            FunctionName=name,
            Runtime=merged["Runtime"],
            Role=role_arn,
            Handler=merged["Handler"],
            Code={"ZipFile": archive.getvalue()},
            Timeout=int(merged.get("Timeout", 3)),
            MemorySize=int(merged.get("MemorySize", 128)),
            Architectures=list(merged.get("Architectures", ["x86_64"])),
            Environment={"Variables": {k: str(v) for k, v in environment.items()}},
        )
        REGISTRY.register(
            BridgedFunction(
                logical_id=logical_id,
                function_name=name,
                code_dir=code_dir,
                handler=merged["Handler"],
                # As in Lambda: the function's variables, then its role's session (AWS_ACCESS_KEY_ID...).
                environment={
                    **SANDBOX_ENVIRONMENT,
                    **{k: str(v) for k, v in environment.items()},
                    **session.environment(),
                },
                role_arn=role_arn,
                timeout=int(merged.get("Timeout", 3)),
                memory=int(merged.get("MemorySize", 128)),
            )
        )
        return {"Ref": name, "Arn": function["FunctionArn"]}

    def _create_state_machine(self, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        definition = (REPO_ROOT / str(props["DefinitionUri"])).read_text()
        substitutions = {k: str(v) for k, v in r.resolve(props.get("DefinitionSubstitutions", {})).items()}
        filled = substitute_definition(definition, substitutions)
        name = r.resolve(props.get("Name", f"{r.stack_name}-{logical_id}"))
        assert self._iam is not None
        role_arn, _ = self._session_for(logical_id, self._iam.state_machine_roles[logical_id], r, name)
        arn = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=filled,
            roleArn=role_arn,
            type=props.get("Type", "STANDARD"),
        )["stateMachineArn"]
        return {"Ref": arn, "Arn": arn, "Name": name}

    def _create_alarm(self, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        p["Threshold"] = float(p["Threshold"])
        for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if key in p:
                p[key] = int(p[key])
        self.client("cloudwatch").put_metric_alarm(**p)
        return {"Ref": p["AlarmName"], "Arn": f"arn:aws:cloudwatch:{self.region}:{r.account_id}:alarm:{p['AlarmName']}"}

    # --- what people and other systems would see ---------------------------------------------------

    def _listen(self) -> None:
        """Sandbox-only listeners: an SQS queue on the notification topic and one on outcome events."""
        sqs = self.client("sqs")
        self._notifications_url = sqs.create_queue(QueueName="sandbox-notifications")["QueueUrl"]
        self._events_url = sqs.create_queue(QueueName="sandbox-events")["QueueUrl"]
        notifications_arn = sqs.get_queue_attributes(QueueUrl=self._notifications_url, AttributeNames=["QueueArn"])
        events_arn = sqs.get_queue_attributes(QueueUrl=self._events_url, AttributeNames=["QueueArn"])
        topic_arn = self.resources["NotifyTopic"]["Ref"]
        self.client("sns").subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=notifications_arn["Attributes"]["QueueArn"]
        )
        events = self.client("events")
        events.put_rule(Name="sandbox-controlplane-events", EventPattern=json.dumps({"source": ["controlplane"]}))
        events.put_targets(
            Rule="sandbox-controlplane-events",
            Targets=[{"Id": "queue", "Arn": events_arn["Attributes"]["QueueArn"]}],
        )

    def _drain(self, queue_url: str) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        bodies: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def notifications(self) -> list[dict[str, Any]]:
        """SNS notifications published since the last call: {"Subject", "Message", "MessageAttributes"...}."""
        return self._drain(self._notifications_url)

    def events(self) -> list[dict[str, Any]]:
        """EventBridge events with source ``controlplane`` put since the last call."""
        return self._drain(self._events_url)

    def lock_items(self) -> list[dict[str, Any]]:
        """Leases currently in the state table (a finished workflow must leave none of its own)."""
        table = self.resources["StateTable"]["Ref"]
        items = self.client("dynamodb").scan(TableName=table)["Items"]
        return [item for item in items if item["pk"]["S"].startswith("LOCK#")]

    def audit_items(self) -> list[dict[str, Any]]:
        table = self.resources["StateTable"]["Ref"]
        items = self.client("dynamodb").scan(TableName=table)["Items"]
        return [json.loads(item["record"]["S"]) for item in items if item["pk"]["S"].startswith("AUDIT#")]

    # --- seeding the platform from Terraform variables -------------------------------------------

    @property
    def primary_id(self) -> str:
        return f"{self.tfvars.get('project', 'sip')}-{self.tfvars['environment']}-postgres"

    @property
    def cache_group_id(self) -> str:
        return f"{self.tfvars.get('project', 'sip')}-{self.tfvars['environment']}-redis"

    @property
    def platform_outputs(self) -> dict[str, tuple[str, str]]:
        """Template parameter -> (SSM parameter name, value): what Terraform publishes for the control plane."""
        return dict(self._outputs)

    def publish_platform_outputs(self) -> None:
        """Write the SSM parameters Terraform writes (the template resolves them at deploy time)."""
        env = self.environment
        if "RdsKmsKeyArn" not in self._outputs:
            key = self.client("kms").create_key(Description=f"{self.primary_id} storage")["KeyMetadata"]["Arn"]
            self._outputs["RdsKmsKeyArn"] = (f"/sip/{env}/rds/kms-key-arn", str(key))
        # Terraform encrypts the backups bucket with the same data key (s3.tf, ssm.tf).
        data_key = self._outputs["RdsKmsKeyArn"][1]
        self._outputs.setdefault("BackupsKmsKeyArn", (f"/sip/{env}/s3/backups-kms-key-arn", data_key))
        zone_name = f"sip-{env}.internal"
        zone = self.client("route53").create_hosted_zone(
            Name=zone_name,
            CallerReference=f"sandbox-{uuid.uuid4().hex}",
            HostedZoneConfig={"Comment": "platform private zone", "PrivateZone": True},
        )["HostedZone"]["Id"]
        self._outputs["ReaderHostedZoneId"] = (f"/sip/{env}/rds/reader-hosted-zone-id", str(zone).split("/")[-1])
        self._outputs["ReaderRecordName"] = (f"/sip/{env}/rds/reader-record-name", f"reader.db.{zone_name}")
        allocated = str(self.tfvars.get("rds_allocated_storage", 100))
        self._outputs["RdsAllocatedStorageGiB"] = (f"/sip/{env}/rds/allocated-storage-gib", allocated)
        role = self._role(f"{self.primary_id}-monitoring", "monitoring.rds.amazonaws.com")
        self._outputs["RdsMonitoringRoleArn"] = (f"/sip/{env}/rds/monitoring-role-arn", role)
        backup_support.publish_outputs(self)
        ssm = self.client("ssm")
        for path, value in self._outputs.values():
            ssm.put_parameter(Name=path, Value=value, Type="String", Overwrite=True)

    def seed(self) -> None:
        """Create what Terraform would have built (VPC, EKS cluster and node groups) from the tfvars."""
        vars_ = self.tfvars
        ec2 = self.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock=vars_["vpc_cidr"])["Vpc"]["VpcId"]
        base = vars_["vpc_cidr"].split(".")
        subnets = [
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{base[0]}.{base[1]}.{index * 16}.0/20", AvailabilityZone=az)[
                "Subnet"
            ]["SubnetId"]
            for index, az in enumerate(vars_["availability_zones"])
        ]
        eks = self.client("eks")
        cluster = vars_["eks_cluster_name"]
        tags = {"Project": vars_.get("project", "sip"), "Environment": vars_["environment"], "ManagedBy": "terraform"}
        eks.create_cluster(
            name=cluster,
            version=str(vars_["eks_cluster_version"]),
            roleArn=self._role("sandbox-eks-cluster", "eks.amazonaws.com"),
            resourcesVpcConfig={"subnetIds": subnets},
            tags=tags,
        )
        for name, group in vars_["eks_node_groups"].items():
            eks.create_nodegroup(
                clusterName=cluster,
                nodegroupName=name,
                scalingConfig={
                    "minSize": int(group["min_size"]),
                    "maxSize": int(group["max_size"]),
                    "desiredSize": int(group["desired_size"]),
                },
                instanceTypes=list(group["instance_types"]),
                capacityType=group.get("capacity_type", "ON_DEMAND"),
                labels={k: str(v) for k, v in group.get("labels", {}).items()},
                subnets=subnets,
                nodeRole=self._role("sandbox-eks-node", "ec2.amazonaws.com"),
                tags={**tags, "NodeGroup": name},
            )
        self.seed_postgres(subnets, tags)
        self.seed_redis(subnets, tags)
        backup_support.seed(self)

    def seed_postgres(self, subnets: list[str], tags: dict[str, str]) -> None:
        """The RDS PostgreSQL primary (encrypted, backups on) and Terraform's baseline read replicas."""
        vars_ = self.tfvars
        name = self.primary_id
        key = self.client("kms").create_key(Description=f"{name} storage")["KeyMetadata"]["Arn"]
        self._outputs["RdsKmsKeyArn"] = (f"/sip/{self.environment}/rds/kms-key-arn", str(key))
        monitoring = self._role(f"{name}-monitoring", "monitoring.rds.amazonaws.com")
        ec2 = self.client("ec2")
        vpc = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
        database_sg = ec2.create_security_group(
            GroupName=f"{name}-db", Description="PostgreSQL from the cluster", VpcId=vpc
        )["GroupId"]
        rds = self.client("rds")
        rds.create_db_subnet_group(
            DBSubnetGroupName=name, DBSubnetGroupDescription=f"{name} subnets", SubnetIds=subnets
        )
        rds.create_db_parameter_group(
            DBParameterGroupName=f"{name}-pg15",
            DBParameterGroupFamily="postgres15",
            Description="forces TLS (rds.force_ssl)",
        )
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        rds.create_db_instance(
            DBInstanceIdentifier=name,
            Engine="postgres",
            EngineVersion=str(vars_["rds_engine_version"]),
            DBInstanceClass=str(vars_["rds_instance_class"]),
            AllocatedStorage=int(vars_["rds_allocated_storage"]),
            MaxAllocatedStorage=int(vars_["rds_max_allocated_storage"]),
            MultiAZ=bool(vars_["rds_multi_az"]),
            AvailabilityZone=str(vars_["availability_zones"][0]),
            DBSubnetGroupName=name,
            MasterUsername="sip_admin",
            ManageMasterUserPassword=True,
            StorageEncrypted=True,
            KmsKeyId=key,
            StorageType="gp3",
            VpcSecurityGroupIds=[database_sg],
            DBParameterGroupName=f"{name}-pg15",
            MonitoringInterval=60,
            MonitoringRoleArn=monitoring,
            EnablePerformanceInsights=True,
            PerformanceInsightsKMSKeyId=key,
            PerformanceInsightsRetentionPeriod=7,
            EnableCloudwatchLogsExports=["postgresql"],
            EnableIAMDatabaseAuthentication=True,
            BackupRetentionPeriod=int(vars_.get("rds_backup_retention_days", 7)),
            DeletionProtection=True,
            Tags=tag_list,
        )
        for index in range(1, int(vars_.get("rds_read_replicas", 0)) + 1):
            rds.create_db_instance_read_replica(
                DBInstanceIdentifier=f"{name}-replica-{index}",
                SourceDBInstanceIdentifier=name,
                AvailabilityZone=str(vars_["availability_zones"][index % len(vars_["availability_zones"])]),
                Tags=tag_list,
            )

    def seed_redis(self, subnets: list[str], tags: dict[str, str]) -> None:
        """The Redis cluster-mode replication group, and its members' memory use in CloudWatch."""
        vars_ = self.tfvars
        name = f"{vars_.get('project', 'sip')}-{vars_['environment']}-redis"
        elasticache = self.client("elasticache")
        elasticache.create_cache_subnet_group(
            CacheSubnetGroupName=name, CacheSubnetGroupDescription=f"{name} subnets", SubnetIds=subnets
        )
        group = elasticache.create_replication_group(
            ReplicationGroupId=name,
            ReplicationGroupDescription="Sales Intelligence Platform cache",
            Engine="redis",
            EngineVersion=str(vars_["redis_engine_version"]),
            CacheNodeType=str(vars_["redis_node_type"]),
            CacheParameterGroupName="default.redis7.cluster.on",
            CacheSubnetGroupName=name,
            NumNodeGroups=int(vars_["redis_num_shards"]),
            ReplicasPerNodeGroup=int(vars_["redis_replicas_per_shard"]),
            AutomaticFailoverEnabled=True,
            MultiAZEnabled=True,
            AtRestEncryptionEnabled=True,
            TransitEncryptionEnabled=True,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["ReplicationGroup"]
        self.put_cache_memory(group["MemberClusters"], 30.0)

    def put_cache_memory(self, members: list[str], percent: float) -> None:
        """Publish DatabaseMemoryUsagePercentage for cache members, as ElastiCache does every minute."""
        cloudwatch = self.client("cloudwatch")
        for start in range(0, len(members), 20):
            cloudwatch.put_metric_data(
                Namespace="AWS/ElastiCache",
                MetricData=[
                    {
                        "MetricName": "DatabaseMemoryUsagePercentage",
                        "Dimensions": [{"Name": "CacheClusterId", "Value": member}],
                        "Value": float(percent),
                        "Unit": "Percent",
                    }
                    for member in members[start : start + 20]
                ],
            )

    # --- running workflows -------------------------------------------------------------------------

    def deployed(self, resource_type: str) -> dict[str, dict[str, str]]:
        """The deployed resources of one CloudFormation type, by logical id (e.g. every state machine)."""
        return {lid: self.resources[lid] for lid, kind in self.resource_types.items() if kind == resource_type}

    def state_machine_arn(self, logical_id: str) -> str:
        return self.resources[logical_id]["Arn"]

    def function_of_state(self, state_machine: str, state: str) -> str:
        """The logical id of the function a Task state of a deployed state machine invokes."""
        definition = json.loads(
            self.client("stepfunctions").describe_state_machine(stateMachineArn=self.state_machine_arn(state_machine))[
                "definition"
            ]
        )
        found = _find_state(definition, state)
        if found is None:
            raise KeyError(f"{state_machine} has no state {state}")
        resource = str(found.get("Parameters", {}).get("FunctionName") or found.get("Resource", ""))
        return REGISTRY.resolve(resource).logical_id

    def task_of_state(self, state_machine: str, state: str) -> tuple[str, Callable[[Any], bool]]:
        """The function a Task state invokes, and a test for the events that state sends it: the state's
        constant parameters (say ``{"task": "apply"}`` when one function serves several states)."""
        definition = json.loads(
            self.client("stepfunctions").describe_state_machine(stateMachineArn=self.state_machine_arn(state_machine))[
                "definition"
            ]
        )
        found = _find_state(definition, state) or {}
        constants = {
            key: value
            for key, value in found.get("Parameters", {}).items()
            if not key.endswith(".$") and isinstance(value, (str, int, float, bool))
        }

        def sent_by_the_state(event: Any) -> bool:
            return isinstance(event, dict) and all(event.get(key) == value for key, value in constants.items())

        return self.function_of_state(state_machine, state), sent_by_the_state

    def interrupt_state(
        self, state_machine: str, state: str, error_type: str = "Sandbox.Timedout", after: Any = None, times: int = 1
    ) -> Any:
        """``state.interrupt`` for the invocations one Task state makes (see ``task_of_state``)."""
        function, sent_by_the_state = self.task_of_state(state_machine, state)
        return self.state.interrupt(function, error_type, after=after, times=times, matches=sent_by_the_state)  # type: ignore[arg-type]

    def denials(self) -> list[iam_enforcement.Denial]:
        """Requests of functions and state machines that IAM refused since the sandbox started."""
        return iam_enforcement.denials()

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """A deployed function's environment as Lambda sets it (its variables and its role's session)."""
        return dict(REGISTRY.resolve(self.resources[logical_id]["Ref"]).environment)

    def start_execution(self, logical_id: str, payload: Any, name: str | None = None) -> str:
        name = name or f"{logical_id.removesuffix('StateMachine').lower()}-{uuid.uuid4().hex[:12]}"
        return str(
            self.client("stepfunctions").start_execution(
                stateMachineArn=self.state_machine_arn(logical_id), name=name, input=json.dumps(payload)
            )["executionArn"]
        )

    def wait(self, execution_arn: str, timeout_seconds: float = 120.0) -> ExecutionReport:
        sfn = self.client("stepfunctions")
        started = time.monotonic()
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in TERMINAL:
                break
            if time.monotonic() - started > timeout_seconds:
                raise TimeoutError(f"{execution_arn} still {described['status']} after {timeout_seconds}s")
            time.sleep(0.005)
        duration = (described.get("stopDate") or described["startDate"]) - described["startDate"]
        history: list[dict[str, Any]] = []
        paginator_args: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**paginator_args)
            history.extend(page["events"])
            if not page.get("nextToken"):
                break
            paginator_args["nextToken"] = page["nextToken"]
        entered = [
            event["stateEnteredEventDetails"]["name"] for event in history if event["type"].endswith("StateEntered")
        ]
        output = json.loads(described["output"]) if described.get("output") else None
        return ExecutionReport(
            name=described["name"],
            arn=execution_arn,
            status=described["status"],
            output=output if isinstance(output, dict) else None,
            error=described.get("error"),
            cause=described.get("cause"),
            states_entered=entered,
            api_calls=Counter(self.state.calls_by_execution.get(described["name"], Counter())),
            duration_seconds=duration.total_seconds(),
        )

    def run(self, logical_id: str, payload: Any, name: str | None = None) -> ExecutionReport:
        return self.wait(self.start_execution(logical_id, payload, name))

    def invoke(self, logical_id: str, event: Any) -> tuple[bool, Any]:
        """Call one deployed function's real handler directly, as Lambda would: (ok, payload or error)."""
        from cpctl.sandbox.moto_patches.lambda_bridge import invoke_function

        return invoke_function(REGISTRY.resolve(self.resources[logical_id]["Ref"]), event)

    # --- remediation and schedules (cpctl/sandbox/remediation_support.py) ---------------------------

    def fire_schedule(self, name: str, scheduled_time: datetime | None = None) -> tuple[bool, Any]:
        """Fire an EventBridge Scheduler schedule now (logical id or name): (ok, the target's answer)."""
        return remediation_support.fire_schedule(self, name, scheduled_time)

    def alarm_event(self, alarm_name: str, state: str, **kwargs: Any) -> dict[str, Any]:
        return remediation_support.alarm_event(self, alarm_name, state, **kwargs)

    def deliver_events(self, events: list[dict[str, Any]]) -> int:
        """Put AWS-service events on the default bus together; returns when every delivery has run."""
        from cpctl.sandbox.moto_patches import events as events_patch

        reached = sum(events_patch.deliver(event, self.region) for event in events)
        events_patch.drain()
        return reached

    def advance_clock(self, seconds: float) -> None:
        """Move the control plane's clock forward (cooldowns, quiet times) instead of sleeping."""
        from controlplane import clock

        clock.advance(seconds)

    def nodegroup(self, nodegroup: str) -> dict[str, Any]:
        cluster = self.tfvars["eks_cluster_name"]
        return dict(self.client("eks").describe_nodegroup(clusterName=cluster, nodegroupName=nodegroup)["nodegroup"])


def _find_state(definition: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A state by name, also inside Parallel branches and Map iterators."""
    for state_name, state in definition.get("States", {}).items():
        if state_name == name:
            return dict(state)
        for nested in [*state.get("Branches", []), state.get("Iterator"), state.get("ItemProcessor")]:
            if isinstance(nested, dict):
                found = _find_state(nested, name)
                if found is not None:
                    return found
    return None


def _sse_specification(template: dict[str, Any]) -> dict[str, Any]:
    """The table's SSESpecification in the API's names (the template says SSEEnabled, the API Enabled)."""
    spec: dict[str, Any] = {"Enabled": bool(template.get("SSEEnabled"))}
    if template.get("SSEType"):
        spec["SSEType"] = template["SSEType"]
    if template.get("KMSMasterKeyId"):
        spec["KMSMasterKeyId"] = template["KMSMasterKeyId"]
    return spec


def load_tfvars(environment: str) -> dict[str, Any]:
    import hcl2
    from hcl2 import SerializationOptions

    path = REPO_ROOT / "infra" / "terraform" / "config" / f"{environment}.tfvars"
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    return dict(hcl2.loads(Path(path).read_text(), serialization_options=options))


def _remediation_reset() -> None:
    """No event delivery left running, and the control plane's clock back at real time."""
    from controlplane import clock

    from cpctl.sandbox.moto_patches import events as events_patch

    events_patch.reset()
    clock.reset()
