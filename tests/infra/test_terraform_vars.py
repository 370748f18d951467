"""Terraform variables the sandbox seeds from: structure, the seed's node groups, supported versions."""

from __future__ import annotations

import pytest

from cpctl.sandbox.runtime import load_tfvars


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_structure(environment: str) -> None:
    variables = load_tfvars(environment)
    assert variables["environment"] == environment
    assert variables["region"] == "us-east-1"
    assert len(variables["availability_zones"]) >= 2
    assert variables["vpc_cidr"].endswith("/16")
    for name, group in variables["eks_node_groups"].items():
        assert group["min_size"] <= group["desired_size"] <= group["max_size"], name
        assert group["instance_types"], name


def test_dev_node_groups_are_the_seed() -> None:
    groups = load_tfvars("dev")["eks_node_groups"]
    assert groups["general"]["instance_types"] == ["t3.large"]
    assert (groups["general"]["min_size"], groups["general"]["max_size"], groups["general"]["desired_size"]) == (
        1,
        10,
        3,
    )
    assert groups["cpu_optimized"]["instance_types"] == ["c6i.xlarge"]
    assert (groups["cpu_optimized"]["min_size"], groups["cpu_optimized"]["max_size"]) == (1, 8)
    assert groups["cpu_optimized"]["desired_size"] == 2


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_versions_aws_still_creates(environment: str) -> None:
    variables = load_tfvars(environment)
    # EKS 1.27 and PostgreSQL 15.4 are past end of support; keep the majors, use creatable versions.
    major, minor = (int(part) for part in str(variables["eks_cluster_version"]).split("."))
    assert (major, minor) >= (1, 31)
    assert str(variables["rds_engine_version"]).split(".")[0] == "15"
    assert str(variables["rds_engine_version"]) != "15.4"
    assert str(variables["redis_engine_version"]).startswith("7")
