"""config/<env>.tfvars and config/backend-<env>.hcl: complete for every environment, typed as the
variables declare, prod as the platform README gives it, state encrypted and locked."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tests.infra import terraform_hcl as tf

VARIABLES = {block.name: block.body for block in tf.of_kind("variable")}


def _type(declared: str) -> str:
    return declared.removeprefix("${").removesuffix("}")


def _matches(value: Any, declared: str) -> bool:
    kind = _type(declared)
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind.startswith("list(string)"):
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind.startswith("map(object("):
        return isinstance(value, dict) and all(isinstance(item, dict) for item in value.values())
    raise AssertionError(f"no check for type {kind}")


@pytest.mark.parametrize("environment", tf.ENVIRONMENTS)
def test_every_variable_is_set_for_every_environment(environment: str) -> None:
    """No variable has a default: each environment states every value, and sets nothing undeclared."""
    values = tf.tfvars(environment)
    assert set(values) == set(VARIABLES), (
        f"missing {sorted(set(VARIABLES) - set(values))}, undeclared {sorted(set(values) - set(VARIABLES))}"
    )
    for name, body in VARIABLES.items():
        assert "default" not in body, f"{name} has a default"
        assert _matches(values[name], body["type"]), f"{environment}: {name} is not a {body['type']}"


@pytest.mark.parametrize("environment", tf.ENVIRONMENTS)
def test_values_pass_the_variables_validations(environment: str) -> None:
    """The validation blocks of variables.tf, restated: terraform plan would refuse these values."""
    values = tf.tfvars(environment)
    assert values["environment"] == environment
    assert values["project"] == "sip"
    network = ipaddress.ip_network(values["vpc_cidr"])
    assert network.prefixlen == 16 and network.is_private
    assert len(values["availability_zones"]) == 3
    assert all(zone.startswith(values["region"]) for zone in values["availability_zones"])
    assert values["dr_region"] != values["region"], "the DR region must be another region"
    assert 7 <= values["rds_backup_retention_days"] <= 35
    assert values["rds_allocated_storage"] <= values["rds_max_allocated_storage"]
    assert values["redis_replicas_per_shard"] >= 1
    assert values["opensearch_instance_count"] % 3 == 0
    assert str(values["redis_engine_version"]).startswith("7")
    assert values["eks_cluster_name"] == f"sip-{environment}"
    groups = values["eks_node_groups"]
    assert {"general", "cpu_optimized", "spot"} <= set(groups)
    assert groups["spot"]["capacity_type"] == "SPOT", "a spot group for non-critical work"
    for name, group in groups.items():
        assert group["capacity_type"] in {"ON_DEMAND", "SPOT"}, name
        assert group["min_size"] <= group["desired_size"] <= group["max_size"], name


def test_environments_do_not_share_address_space_or_names() -> None:
    values = [tf.tfvars(environment) for environment in tf.ENVIRONMENTS]
    networks = [ipaddress.ip_network(value["vpc_cidr"]) for value in values]
    for index, network in enumerate(networks):
        for other in networks[index + 1 :]:
            assert not network.overlaps(other), (network, other)
    assert len({value["domain_name"] for value in values}) == 3


def test_prod_has_the_platform_readme_values() -> None:
    """The platform README: us-east-1, 10.0.0.0/16, three AZs; general t3.large min 1 / desired 3 /
    max 10; cpu_optimized c6i.xlarge min 1 / desired 2 / max 8."""
    prod = tf.tfvars("prod")
    assert prod["region"] == "us-east-1"
    assert prod["vpc_cidr"] == "10.0.0.0/16"
    assert prod["availability_zones"] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    groups = prod["eks_node_groups"]
    general, cpu = groups["general"], groups["cpu_optimized"]
    assert general["instance_types"] == ["t3.large"]
    assert (general["min_size"], general["desired_size"], general["max_size"]) == (1, 3, 10)
    assert cpu["instance_types"] == ["c6i.xlarge"]
    assert (cpu["min_size"], cpu["desired_size"], cpu["max_size"]) == (1, 2, 8)
    assert prod["rds_multi_az"] is True
    assert str(prod["rds_engine_version"]).split(".")[0] == "15"


@pytest.mark.parametrize("environment", tf.ENVIRONMENTS)
def test_backend_state_is_encrypted_and_locked_with_a_lockfile(environment: str) -> None:
    backend = tf.backend(environment)
    assert backend["encrypt"] is True
    assert backend["use_lockfile"] is True
    assert "dynamodb_table" not in backend, "the DynamoDB lock table is deprecated (use_lockfile)"
    assert backend["bucket"] == f"sip-terraform-state-{environment}"
    assert backend["key"] == f"platform/{environment}/terraform.tfstate"
    assert backend["region"] == tf.tfvars(environment)["region"]
    assert backend["kms_key_id"]
