"""infra/terraform, read statically (no terraform binary can be installed here): versions pinned, module
inputs real, variables declared and used, every resource tagged and encrypted, Multi-AZ, and the ownership
ignores that keep Terraform from undoing what the control plane changes at run time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cpctl.sandbox.template import load_template
from tests.infra import terraform_hcl as tf

TEMPLATE = load_template(tf.REPO / "template.yaml")


def _resource_id(block: tf.Block) -> str:
    return f"{block.file.parent.name}/{block.type}.{block.name}"


# Arguments of a module block that are Terraform's, not the module's inputs.
META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}


def test_every_file_parses() -> None:
    paths = [*tf.TERRAFORM.rglob("*.tf"), *tf.CONFIG.iterdir()]
    assert len(paths) > 20
    for path in paths:
        assert tf.parse(path) is not None, path


# --- versions ----------------------------------------------------------------------------------------


def test_terraform_and_providers_are_pinned() -> None:
    (settings,) = tf.of_kind("terraform")
    assert re.fullmatch(r">= 1\.1[1-9]\.\d+, < 2\.0\.0", settings.body["required_version"])
    (providers,) = settings.body["required_providers"]
    assert {"aws", "random", "tls", "time"} <= set(providers)
    for name, spec in providers.items():
        assert spec["source"] == f"hashicorp/{name}"
        assert tf.is_exact_version(spec["version"]), f"{name} {spec['version']} is not an exact version"
    assert settings.body["backend"] == [{"s3": {}}], "partial S3 backend: -backend-config=config/backend-<env>.hcl"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _floor(constraint: str) -> tuple[int, ...]:
    match = re.fullmatch(r">= ?([\d.]+)", constraint.strip())
    assert match, f"unexpected constraint {constraint!r}"
    return _version(match.group(1))


@pytest.mark.parametrize("block", [b for b in tf.of_kind("module") if tf.is_registry(b)], ids=lambda block: block.name)
def test_the_pins_meet_every_modules_floors(block: tf.Block) -> None:
    """Each module's versions.tf at its tag: our Terraform floor and provider pins satisfy it."""
    (settings,) = tf.of_kind("terraform")
    (providers,) = settings.body["required_providers"]
    facts = tf.MODULE_FACTS[tf.registry_key(block)]
    ours = _floor(settings.body["required_version"].split(",")[0])
    assert ours >= _floor(facts["required_version"]), "required_version below the module's"
    for name, constraint in facts["required_providers"].items():
        assert name in providers, f"{name} is not pinned"
        assert _version(providers[name]["version"]) >= _floor(constraint), f"{name} {providers[name]['version']}"


@pytest.mark.parametrize("block", tf.of_kind("module"), ids=lambda block: block.name)
def test_registry_modules_are_pinned_to_exact_versions(block: tf.Block) -> None:
    if not tf.is_registry(block):
        assert Path(tf.TERRAFORM / block.body["source"]).is_dir(), block.body["source"]
        assert "version" not in block.body
        return
    assert block.body["source"].startswith("terraform-aws-modules/")
    assert tf.is_exact_version(block.body["version"]), f"{block.name}: {block.body['version']}"
    assert tf.registry_key(block) in tf.MODULE_FACTS, f"{tf.registry_key(block)}: no facts read from its source"


@pytest.mark.parametrize("block", [b for b in tf.of_kind("module") if tf.is_registry(b)], ids=lambda block: block.name)
def test_registry_module_inputs_exist_at_the_pinned_version(block: tf.Block) -> None:
    """Every argument is a variable of the module at that tag (tests/infra/data/terraform_modules.json)."""
    known = set(tf.MODULE_FACTS[tf.registry_key(block)]["variables"])
    unknown = set(block.body) - META_ARGUMENTS - known
    assert not unknown, f"module.{block.name} ({tf.registry_key(block)}) has no input {sorted(unknown)}"


# Maps whose keys are names we choose, not attributes of the module's object types.
FREE_FORM_KEYS = {"tags", "labels"}


def _leaf_keys(value: object, parent: str = "") -> set[str]:
    """Keys of scalar or list values at any depth; keys of nested objects are followed, not checked (they may
    be the names of a map(object(...)))."""
    keys: set[str] = set()
    if isinstance(value, list):
        for item in value:
            keys |= _leaf_keys(item, parent)
    elif isinstance(value, dict) and parent not in FREE_FORM_KEYS:
        for key, item in value.items():
            if isinstance(item, dict):
                keys |= _leaf_keys(item, key)
            else:
                keys.add(key)
                keys |= _leaf_keys(item, key)
    return keys


@pytest.mark.parametrize("block", [b for b in tf.of_kind("module") if tf.is_registry(b)], ids=lambda block: block.name)
def test_object_inputs_use_attributes_the_module_declares(block: tf.Block) -> None:
    """Inside object-typed inputs (listeners, target_groups, origin, default_cache_behavior, ...), every
    attribute we set is one the variable's type declares at the pinned version."""
    declared = tf.MODULE_FACTS[tf.registry_key(block)]["object_attributes"]
    for name, value in block.body.items():
        if name in declared:
            unknown = _leaf_keys(value) - set(declared[name])
            assert not unknown, f"module.{block.name}.{name}: {sorted(unknown)} not in the variable's type"


def test_node_group_attributes_exist_in_the_eks_module() -> None:
    eks = tf.module("eks")
    assert eks.body["eks_managed_node_groups"] == "${local.node_groups}"
    known = set(tf.MODULE_FACTS[tf.registry_key(eks)]["eks_managed_node_group_attributes"])
    used = set(re.findall(r"^\s{6}([a-z_]+)\s+=", _source_of_local("node_groups"), re.M))
    assert used, "no node group attributes found"
    assert used <= known, f"not attributes of eks_managed_node_groups: {sorted(used - known)}"


def _source_of_local(name: str) -> str:
    source = (tf.TERRAFORM / "eks.tf").read_text()
    start = source.index(f"  {name} = {{")
    return source[start : source.index("\n  }\n}\n", start)]


def _provider_id(block: tf.Block) -> str:
    return f"{block.file.parent.name}/{block.kind}.{block.type}.{block.name}"


AWS_BLOCKS = [
    block
    for directory in tf.all_module_dirs()
    for block in tf.blocks(directory)
    if block.kind in {"resource", "data"} and block.type.startswith("aws_")
]


@pytest.mark.parametrize("block", AWS_BLOCKS, ids=_provider_id)
def test_resource_arguments_exist_in_the_aws_provider(block: tf.Block) -> None:
    """Every argument and nested block is in the provider's schema (tests/infra/data/terraform_provider_aws.json)."""
    key = block.type if block.kind == "resource" else f"data.{block.type}"
    assert key in tf.PROVIDER_FACTS, f"{key}: add its schema facts"
    facts = tf.PROVIDER_FACTS[key]
    used = tf.argument_names(block.body, frozenset(facts.get("opaque_blocks", [])))
    unknown = used - set(facts["arguments"])
    assert not unknown, f"{block.address}: not arguments of {block.type}: {sorted(unknown)}"


def test_referenced_resource_attributes_exist() -> None:
    for directory in tf.all_module_dirs():
        for block in tf.blocks(directory):
            for type_, name, attribute in tf.resource_attribute_refs(block.body):
                facts = tf.PROVIDER_FACTS[type_]
                known = set(facts["attributes"]) | set(facts["arguments"]) | {"id"}
                assert attribute in known, f"{block.address}: {type_}.{name}.{attribute} does not exist"


def test_module_outputs_referenced_exist() -> None:
    modules = {block.name: block for block in tf.of_kind("module")}
    for block in tf.blocks():
        for name, output in tf.module_output_refs(block.body):
            assert name in modules, f"{block.address}: module.{name} is not defined"
            called = modules[name]
            if tf.is_registry(called):
                outputs = set(tf.MODULE_FACTS[tf.registry_key(called)]["outputs"])
            else:
                outputs = {o.name for o in tf.of_kind("output", tf.TERRAFORM / called.body["source"])}
            assert output in outputs, f"{block.address}: module.{name} has no output {output}"


# --- variables ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("directory", tf.all_module_dirs(), ids=lambda path: path.name)
def test_every_variable_is_declared_and_used(directory: Path) -> None:
    declared = {block.name for block in tf.of_kind("variable", directory)}
    used: set[str] = set()
    for block in tf.blocks(directory):
        if block.kind == "variable":
            used |= {ref for ref in tf.refs(block.body.get("validation", []), "var") if ref != block.name}
            continue
        used |= tf.refs(block.body, "var")
    assert used - declared == set(), f"used, not declared: {sorted(used - declared)}"
    assert declared - used == set(), f"declared, never used: {sorted(declared - used)}"
    for block in tf.of_kind("variable", directory):
        assert block.body.get("description"), f"variable {block.name} has no description"
        assert "type" in block.body, f"variable {block.name} has no type"


@pytest.mark.parametrize("block", [b for b in tf.of_kind("module") if not tf.is_registry(b)], ids=lambda b: b.name)
def test_local_module_calls_pass_every_variable(block: tf.Block) -> None:
    directory = tf.TERRAFORM / block.body["source"]
    declared = {variable.name for variable in tf.of_kind("variable", directory)}
    passed = set(block.body) - META_ARGUMENTS
    assert passed == declared, f"missing {sorted(declared - passed)}, unknown {sorted(passed - declared)}"


def test_every_local_is_used() -> None:
    for directory in tf.all_module_dirs():
        defined = set(tf.locals_(directory))
        used: set[str] = set()
        for block in tf.blocks(directory):
            used |= tf.refs(block.body, "local")
        assert defined - used == set(), f"{directory.name}: locals never used {sorted(defined - used)}"


# --- tags ---------------------------------------------------------------------------------------------

COST_TAGS = {"Project", "Environment", "CostCenter", "Owner", "ManagedBy"}
# Resource types that take no tags in the AWS provider (or are not AWS resources).
UNTAGGABLE = {
    "aws_kms_alias",
    "aws_iam_role_policy",
    "aws_iam_role_policy_attachment",
    "aws_route53_record",
    "aws_acm_certificate_validation",
    "aws_secretsmanager_secret_version",
    "aws_prometheus_alert_manager_definition",
    "aws_xray_encryption_config",
    "aws_cloudwatch_log_resource_policy",
    "aws_wafv2_web_acl_logging_configuration",
    "random_password",
}


@pytest.mark.parametrize("block", tf.of_kind("provider"), ids=lambda block: block.name)
def test_every_aws_provider_sets_the_cost_allocation_default_tags(block: tf.Block) -> None:
    assert block.name.startswith("aws.")
    (default_tags,) = block.body["default_tags"]
    assert default_tags["tags"] == "${local.default_tags}"
    assert set(tf.locals_()["default_tags"]) >= COST_TAGS


def test_the_provider_aliases() -> None:
    providers = {block.name: block.body for block in tf.of_kind("provider")}
    assert providers["aws.default"]["region"] == "${var.region}"
    assert providers["aws.dr"]["region"] == "${var.dr_region}"
    assert providers["aws.global"]["region"] == "us-east-1"


@pytest.mark.parametrize("block", tf.resources(), ids=_resource_id)
def test_every_taggable_resource_is_tagged(block: tf.Block) -> None:
    """default_tags give every resource the cost tags; each resource adds its own (Name/Component)."""
    if block.type in UNTAGGABLE:
        assert "tags" not in block.body
        return
    assert block.body.get("tags"), f"{block.address} in {block.file.name} has no tags"


@pytest.mark.parametrize("block", tf.of_kind("module"), ids=lambda block: block.name)
def test_every_module_that_takes_tags_is_given_them(block: tf.Block) -> None:
    if tf.is_registry(block):
        takes_tags = "tags" in tf.MODULE_FACTS[tf.registry_key(block)]["variables"]
    else:
        takes_tags = "tags" in {v.name for v in tf.of_kind("variable", tf.TERRAFORM / block.body["source"])}
    assert ("tags" in block.body) == takes_tags, block.name


# --- encryption -----------------------------------------------------------------------------------------


def _true(body: dict[str, object], key: str) -> bool:
    return body.get(key) is True


def _single(body: dict[str, object], key: str) -> dict[str, object]:
    value = body[key]
    assert isinstance(value, list) and len(value) == 1, key
    return dict(value[0])


def _check_db_instance(body: dict[str, object]) -> None:
    assert _true(body, "storage_encrypted") and body["kms_key_id"]
    assert _true(body, "performance_insights_enabled") and body["performance_insights_kms_key_id"]
    assert body.get("publicly_accessible") is False


def _check_replication_group(body: dict[str, object]) -> None:
    assert _true(body, "at_rest_encryption_enabled") and body["kms_key_id"]
    assert _true(body, "transit_encryption_enabled") and body["transit_encryption_mode"] == "required"
    assert body["auth_token"]


def _check_opensearch(body: dict[str, object]) -> None:
    assert _single(body, "encrypt_at_rest")["enabled"] is True
    assert _single(body, "encrypt_at_rest")["kms_key_id"]
    assert _single(body, "node_to_node_encryption")["enabled"] is True
    assert _single(body, "domain_endpoint_options")["enforce_https"] is True


# Every resource type in the configuration is either a data store with its encryption check here, or
# named as holding no data at rest: a new type fails until someone decides which.
ENCRYPTION: dict[str, object] = {
    "aws_db_instance": _check_db_instance,
    "aws_elasticache_replication_group": _check_replication_group,
    "aws_opensearch_domain": _check_opensearch,
    "aws_cloudwatch_log_group": lambda body: body["kms_key_id"],
    "aws_secretsmanager_secret": lambda body: body["kms_key_id"],
    "aws_prometheus_workspace": lambda body: body["kms_key_arn"],
    "aws_xray_encryption_config": lambda body: body["type"] == "KMS" and body["key_id"],
    "aws_kms_key": lambda body: _true(body, "enable_key_rotation") and body["policy"],
    "aws_ssm_parameter": lambda body: body["type"] in {"String", "StringList"},  # identifiers (checkov skips say why)
}
NO_DATA_AT_REST = {
    "aws_kms_alias",
    "aws_iam_role",
    "aws_iam_role_policy",
    "aws_iam_role_policy_attachment",
    "aws_security_group",
    "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule",
    "aws_route53_zone",
    "aws_route53_record",
    "aws_acm_certificate",
    "aws_acm_certificate_validation",
    "aws_wafv2_web_acl",
    "aws_wafv2_web_acl_logging_configuration",
    "aws_elasticache_subnet_group",
    "aws_elasticache_parameter_group",
    "aws_secretsmanager_secret_version",  # stored in the encrypted secret
    "aws_prometheus_rule_group_namespace",
    "aws_prometheus_alert_manager_definition",
    "aws_cloudwatch_log_resource_policy",
    "aws_eks_pod_identity_association",
    "aws_grafana_workspace",  # dashboards live in the AWS-managed workspace
    "random_password",
}


@pytest.mark.parametrize("block", tf.resources(), ids=_resource_id)
def test_every_data_store_is_encrypted(block: tf.Block) -> None:
    if block.type in NO_DATA_AT_REST:
        return
    assert block.type in ENCRYPTION, f"{block.type}: add its encryption check or list it as holding no data"
    check = ENCRYPTION[block.type]
    assert callable(check)
    result = check(block.body)
    assert result is None or result, f"{block.address} is not encrypted as required"


S3_MODULES = ["logs_bucket", "assets_bucket", "backups_bucket", "backups_dr_bucket"]


@pytest.mark.parametrize("name", S3_MODULES)
def test_buckets_are_versioned_encrypted_private_and_tls_only(name: str) -> None:
    body = tf.module(name).body
    assert body["versioning"] == {"enabled": True}
    encryption = body["server_side_encryption_configuration"]
    if isinstance(encryption, str):  # a local shared by the KMS buckets
        encryption = tf.locals_()[encryption.removeprefix("${local.").removesuffix("}")]
    default = encryption["rule"]["apply_server_side_encryption_by_default"]
    if name == "logs_bucket":
        assert default == {"sse_algorithm": "AES256"}, "ALB access logs accept SSE-S3 only"
    else:
        assert default["sse_algorithm"] == "aws:kms" and default["kms_master_key_id"]
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert body[flag] is True, flag
    assert body["object_ownership"] == "BucketOwnerEnforced"
    assert body["attach_deny_insecure_transport_policy"] is True
    assert body["attach_require_latest_tls_policy"] is True


def test_backups_replicate_to_the_dr_bucket_in_the_dr_region() -> None:
    backups = tf.module("backups_bucket").body
    (rule,) = backups["replication_configuration"]["rules"]
    assert rule["status"] == "Enabled"
    assert rule["destination"]["bucket"] == "${module.backups_dr_bucket.s3_bucket_arn}"
    assert rule["destination"]["replica_kms_key_id"] == "${aws_kms_key.dr.arn}"
    assert rule["source_selection_criteria"]["sse_kms_encrypted_objects"] == {"enabled": True}
    assert tf.module("backups_dr_bucket").body["providers"] == {"aws": "${aws.dr}"}
    assert tf.resource("aws_kms_key", "dr").body["provider"] == "${aws.dr}"
    names = tf.locals_()
    assert names["backups_bucket_name"] == "${local.name}-backups"
    assert names["backups_dr_bucket"] == "${local.name}-backups-dr"
    assert names["assets_bucket_name"] == "${local.name}-assets"


def test_eks_secrets_logs_and_endpoint() -> None:
    eks = tf.module("eks").body
    assert eks["endpoint_private_access"] is True and eks["endpoint_public_access"] is False
    assert set(eks["enabled_log_types"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    assert eks["create_kms_key"] is True and eks["encryption_config"] == {"resources": ["secrets"]}
    assert eks["cloudwatch_log_group_kms_key_id"] == "${aws_kms_key.logs.arn}"
    source = _source_of_local("node_groups")
    assert "encrypted             = true" in source
    assert 'http_tokens                 = "required"' in source


def test_rds_forces_tls_and_keeps_backups_in_the_dr_region() -> None:
    parameters = {p["name"]: p["value"] for p in tf.module("postgres_parameter_group").body["parameters"]}
    assert parameters["rds.force_ssl"] == "1"
    assert tf.module("postgres_parameter_group").body["family"] == "postgres15"
    replication = tf.module("postgres_backup_replication").body
    assert replication["providers"] == {"aws": "${aws.dr}"}
    assert replication["kms_key_arn"] == "${aws_kms_key.dr.arn}"
    assert replication["retention_period"] == "${var.rds_backup_retention_days}"
    primary = resource_body("postgres", "aws_db_instance", "primary")
    assert primary["manage_master_user_password"] is True
    assert primary["deletion_protection"] == "${var.deletion_protection}"
    assert tf.module("postgres").body["deletion_protection"] is True
    assert primary["backup_retention_period"] == "${var.backup_retention_days}"
    assert primary["max_allocated_storage"] == "${var.max_allocated_storage}"


def resource_body(module_dir: str, type_: str, name: str) -> dict[str, object]:
    (block,) = [b for b in tf.resources(type_, tf.TERRAFORM / "modules" / module_dir) if b.name == name]
    return block.body


# --- Multi-AZ ------------------------------------------------------------------------------------------


def test_network_spans_three_azs_with_a_nat_gateway_each_and_flow_logs() -> None:
    vpc = tf.module("vpc").body
    assert vpc["azs"] == "${var.availability_zones}"
    for tier in ("public_subnets", "private_subnets", "database_subnets"):
        assert vpc[tier] == f"${{local.{tier}}}"
    assert vpc["enable_nat_gateway"] is True
    assert vpc["one_nat_gateway_per_az"] is True and vpc["single_nat_gateway"] is False
    assert vpc["enable_flow_log"] is True and vpc["flow_log_traffic_type"] == "ALL"
    assert vpc["flow_log_cloudwatch_log_group_kms_key_id"] == "${aws_kms_key.logs.arn}"
    assert vpc["public_subnet_tags"]["kubernetes.io/role/elb"] == "1"
    assert vpc["private_subnet_tags"]["kubernetes.io/role/internal-elb"] == "1"


def test_databases_and_logs_are_multi_az() -> None:
    assert tf.module("postgres").body["multi_az"] == "${var.rds_multi_az}"
    assert resource_body("postgres", "aws_db_instance", "primary")["multi_az"] == "${var.multi_az}"
    for environment in tf.ENVIRONMENTS:
        assert tf.tfvars(environment)["rds_multi_az"] is True, environment
        assert len(tf.tfvars(environment)["availability_zones"]) == 3, environment
    group = resource_body("redis", "aws_elasticache_replication_group", "this")
    assert group["multi_az_enabled"] is True and group["automatic_failover_enabled"] is True
    assert group["cluster_mode"] == "enabled"
    cluster = tf.resource("aws_opensearch_domain", "logs").body["cluster_config"][0]
    assert cluster["zone_awareness_enabled"] is True
    assert cluster["zone_awareness_config"] == [{"availability_zone_count": 3}]
    assert tf.module("eks").body["subnet_ids"] == "${module.vpc.private_subnets}"
    assert tf.module("alb").body["subnets"] == "${module.vpc.public_subnets}"


def test_security_groups_admit_no_internet_and_open_one_port_per_rule() -> None:
    ingress = tf.resources("aws_vpc_security_group_ingress_rule")
    egress = tf.resources("aws_vpc_security_group_egress_rule")
    assert ingress and egress
    for rule in ingress:
        assert rule.body.get("cidr_ipv4") in (None, "${var.vpc_cidr}"), f"{rule.name}: ingress from a CIDR"
        assert "cidr_ipv6" not in rule.body
    for rule in [*ingress, *egress]:
        assert rule.body["from_port"] == rule.body["to_port"], f"{rule.name}: one port per rule"
        assert rule.body["ip_protocol"] == "tcp", rule.name
        assert rule.body["description"], rule.name
        if rule.body.get("cidr_ipv4") == "0.0.0.0/0":
            assert rule in egress and rule.body["from_port"] == 443, f"{rule.name}: only HTTPS out to the internet"
    assert tf.module("vpc").body["default_security_group_ingress"] == []
    assert tf.module("vpc").body["default_security_group_egress"] == []


# --- ownership: what the control plane changes at run time, Terraform ignores -------------------------


def test_node_group_desired_size_is_ignored_by_the_pinned_eks_module() -> None:
    """The eks module's aws_eks_node_group ignores scaling_config[0].desired_size (read from its source at
    the pinned tag); Terraform owns min and max."""
    facts = tf.MODULE_FACTS[tf.registry_key(tf.module("eks"))]
    assert "scaling_config[0].desired_size" in facts["aws_eks_node_group_ignore_changes"]
    source = _source_of_local("node_groups")
    assert "min_size        = group.min_size" in source and "max_size        = group.max_size" in source
    assert "use_name_prefix = false" in source, "the control plane addresses node groups by name"


def test_rds_allocated_storage_is_ignored_and_the_ceiling_owned() -> None:
    directory = tf.TERRAFORM / "modules" / "postgres"
    for block in tf.resources("aws_db_instance", directory):
        assert "allocated_storage" in tf.ignore_changes(block), block.address
        assert block.body["max_allocated_storage"] == "${var.max_allocated_storage}"
    assert tf.module("postgres").body["max_allocated_storage"] == "${var.rds_max_allocated_storage}"


def test_redis_shards_replicas_and_auth_token_are_ignored() -> None:
    (group,) = tf.resources("aws_elasticache_replication_group")
    assert tf.ignore_changes(group) >= {"num_node_groups", "replicas_per_node_group", "auth_token"}


def test_values_the_control_plane_keeps_current_are_ignored() -> None:
    assert tf.ignore_changes(tf.resource("aws_ssm_parameter", "rds_allocated_storage")) == {"value"}
    assert tf.ignore_changes(tf.resource("aws_route53_record", "writer")) == {"records"}, "Recovery switches it"
    assert tf.ignore_changes(tf.resource("aws_secretsmanager_secret_version", "redis_auth")) == {"secret_string"}


def test_baseline_replicas_are_not_tagged_as_the_control_planes() -> None:
    """The control plane removes only replicas tagged ManagedBy=controlplane: Terraform's stay."""
    replica = resource_body("postgres", "aws_db_instance", "replica")
    assert "controlplane" not in tf.text(replica["tags"])
    assert tf.locals_()["default_tags"]["ManagedBy"] == "terraform"


# --- the contract with the control plane ------------------------------------------------------------


@pytest.mark.parametrize("environment", tf.ENVIRONMENTS)
def test_names_and_parameters_match_what_the_control_plane_reads(environment: str) -> None:
    """samconfig.toml names the cluster, the primary, the replication group and the SSM parameters that
    template.yaml resolves: Terraform creates exactly those for the same environment."""
    import tomllib

    variables = tf.tfvars(environment)
    local_values = tf.locals_()
    overrides = tomllib.loads((tf.REPO / "samconfig.toml").read_text())[environment]["deploy"]["parameters"][
        "parameter_overrides"
    ]
    parameters = dict(re.findall(r'(\w+)="([^"]*)"', overrides))
    assert parameters["ClusterName"] == variables["eks_cluster_name"]
    assert parameters["RdsPrimaryIdentifier"] == tf.substitute(local_values["rds_primary_id"], variables, local_values)
    assert parameters["CacheReplicationGroupId"] == tf.substitute(
        local_values["redis_group_id"], variables, local_values
    )
    ssm_dir = tf.substitute(local_values["controlplane_ssm_dir"], variables, local_values)
    written = {f"{ssm_dir}/{key}" for key in local_values["platform_parameters"]}
    written.add(
        tf.substitute(tf.resource("aws_ssm_parameter", "rds_allocated_storage").body["name"], variables, local_values)
    )
    for block in tf.resources("aws_ssm_parameter"):
        if block.name != "platform":
            written.add(tf.substitute(block.body["name"], variables, local_values))
    read = {value for value in parameters.values() if value.startswith("/")}
    assert read, "samconfig reads no SSM parameter"
    # Template parameters samconfig leaves at their default read /sip/dev/...: the same path per environment.
    for name, parameter in TEMPLATE["Parameters"].items():
        default = str(parameter.get("Default", ""))
        if str(parameter["Type"]).startswith("AWS::SSM::Parameter::Value") and name not in parameters:
            read.add(default.replace("/sip/dev/", f"/sip/{environment}/"))
    assert read <= written, f"not written by Terraform: {sorted(read - written)}"


def test_the_secrets_the_control_plane_rotates_are_terraforms() -> None:
    """Every unconditional RotationSchedule of template.yaml names a secret Terraform creates (sip/<env>/...).
    A conditional one depends on a deploy parameter (the master secret's schedule is off while RDS manages
    the master password, as Terraform has it: manage_master_user_password)."""
    names = {
        tf.substitute(block.body["name"], tf.tfvars("dev"), tf.locals_())
        for block in tf.resources("aws_secretsmanager_secret")
    }
    assert {"sip/dev/redis/auth-token", "sip/dev/postgres/app"} <= names
    for logical_id, resource in TEMPLATE["Resources"].items():
        if resource["Type"] == "AWS::SecretsManager::RotationSchedule" and "Condition" not in resource:
            secret = resource["Properties"]["SecretId"]
            secret = secret.get("Fn::Sub", secret) if isinstance(secret, dict) else secret
            assert str(secret).replace("${Environment}", "dev") in names, logical_id


def test_monitoring_reads_the_repo_files() -> None:
    source = (tf.TERRAFORM / "monitoring.tf").read_text()
    paths = re.findall(r'(?:file|templatefile)\("\$\{path\.module\}/([^"]+)"', source)
    assert len(paths) == 3
    for path in paths:
        assert (tf.TERRAFORM / path).is_file(), path
    alertmanager = (tf.TERRAFORM / "../monitoring/alertmanager/alertmanager.yml").read_text()
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", alertmanager))
    assert placeholders == {"NOTIFY_TOPIC_ARN", "AWS_REGION"}, "templatefile() would fail on any other ${...}"
    assert "/etc/alertmanager/templates/*.tmpl" in alertmanager


def test_the_alert_manager_definition_meets_amps_rules() -> None:
    """Rendered as monitoring.tf renders it. AMP's alert manager: "The only alert receiver currently
    supported ... is Amazon SNS"; `api_url` and `http_config` "are not allowed"; "SigV4 settings are
    required to have a Region property"; templates are the keys of `template_files`."""
    import yaml

    monitoring = tf.TERRAFORM.parent / "monitoring" / "alertmanager"
    rendered = (
        (monitoring / "alertmanager.yml")
        .read_text()
        .replace("${NOTIFY_TOPIC_ARN}", "arn:aws:sns:us-east-1:123456789012:sip-controlplane-notify-dev")
        .replace("${AWS_REGION}", "us-east-1")
        .replace("/etc/alertmanager/templates/*.tmpl", "controlplane.tmpl")
    )
    config = yaml.safe_load(rendered)
    template_files = {"controlplane.tmpl": (monitoring / "templates" / "controlplane.tmpl").read_text()}
    assert config["templates"] == list(template_files)
    for receiver in config["receivers"]:
        assert set(receiver) == {"name", "sns_configs"}, receiver["name"]
        for sns in receiver["sns_configs"]:
            assert not {"api_url", "http_config"} & set(sns)
            assert sns["sigv4"]["region"] == "us-east-1"
            assert sns["topic_arn"].endswith(":sip-controlplane-notify-dev")
    source = (tf.TERRAFORM / "monitoring.tf").read_text()
    assert 'notify_topic_arn      = "arn:${local.partition}:sns:${var.region}:${local.account_id}:' in source
    assert "${var.project}-controlplane-notify-${var.environment}" in source


def test_the_redis_auth_token_is_one_elasticache_accepts() -> None:
    """ElastiCache AUTH tokens: 16 to 128 printable characters; the only non-alphanumerics allowed are
    ! & # $ ^ < > - (docs/aws-facts)."""
    password = tf.resource("random_password", "redis_auth").body
    assert 16 <= password["length"] <= 128
    assert set(password["override_special"]) <= set("!&#$^<>-")


def test_the_database_password_avoids_characters_that_break_connection_strings() -> None:
    """Excluded: : / @ " ' \\ and space (connection strings, .pgpass, URLs, CloudFormation; aws-facts)."""
    password = tf.resource("random_password", "postgres_app").body
    assert not set(password["override_special"]) & set(":/@\"'\\ ")


@pytest.mark.parametrize("directory", tf.all_module_dirs(), ids=lambda path: path.name)
def test_no_secret_reaches_an_output_or_a_parameter(directory: Path) -> None:
    """Outputs and SSM parameters carry identifiers and ARNs: never a generated password or a secret's value."""
    secret_sources = ("random_password.", "secret_string", "var.auth_token")
    for block in tf.of_kind("output", directory):
        assert block.body.get("description"), f"output {block.name} has no description"
        assert not any(source in tf.text(block.body["value"]) for source in secret_sources), block.name
    if directory == tf.TERRAFORM:
        parameters = tf.text(tf.locals_()["platform_parameters"])
        assert not any(source in parameters for source in secret_sources)
        for block in tf.resources("aws_ssm_parameter", directory):
            assert not any(source in tf.text(block.body["value"]) for source in secret_sources), block.name
    for block in tf.of_kind("variable", directory):
        if "token" in block.name or "password" in block.name:
            assert block.body.get("sensitive") is True, f"variable {block.name} must be sensitive"


def test_the_spot_group_takes_only_work_that_tolerates_its_taint() -> None:
    source = _source_of_local("node_groups")
    assert 'taints = group.capacity_type == "SPOT" ? {' in source
    assert 'spot = { key = "lifecycle", value = "spot", effect = "NO_SCHEDULE" }' in source


# --- checkov skips --------------------------------------------------------------------------------------


def test_every_inline_checkov_skip_gives_a_reason() -> None:
    skips = []
    for path in tf.TERRAFORM.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                match = re.fullmatch(r"\s*#checkov:skip=(CKV2?_[A-Z]+_\d+):(.+)", line)
                assert match, f"{path.name}: malformed skip {line.strip()}"
                assert len(match.group(2).split()) >= 6, f"{path.name}: {match.group(1)} needs a real reason"
                skips.append(match.group(1))
    assert skips
