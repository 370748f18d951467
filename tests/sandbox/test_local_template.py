"""The local copy of the template that ``make local-invoke`` runs: x86_64 here, arm64 kept for deploys."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpctl.sandbox.local_invoke import LocalInvokeError, container_endpoint, local_template
from cpctl.sandbox.template import load_template, task_functions
from tests.conftest import REPO

ENDPOINT = "http://172.17.0.1:4566"


def test_the_local_copy_runs_x86_64_against_the_sandbox(tmp_path: Path) -> None:
    local = local_template(ENDPOINT, tmp_path)
    function_globals = local["Globals"]["Function"]
    assert function_globals["Architectures"] == ["x86_64"]
    assert function_globals["Environment"]["Variables"]["AWS_ENDPOINT_URL"] == ENDPOINT
    for logical_id, spec in local["Resources"].items():
        properties = spec.get("Properties", {})
        if spec["Type"] == "AWS::Serverless::Function":
            assert properties.get("Architectures", ["x86_64"]) == ["x86_64"], logical_id
            assert Path(properties["CodeUri"]).is_absolute() and Path(properties["CodeUri"]).is_dir(), logical_id
        if spec["Type"] == "AWS::Serverless::LayerVersion":
            assert properties["ContentUri"] == str(tmp_path)
            assert "Metadata" not in spec  # built by make local-invoke, mounted as it is


def test_the_deployed_template_stays_arm64() -> None:
    template = load_template(REPO / "template.yaml")
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    layer = template["Resources"]["CommonLayer"]
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    assert "manylinux2014_aarch64" in (REPO / "layers" / "common" / "Makefile").read_text()


def test_the_scale_steps_are_found_from_the_template() -> None:
    steps = task_functions(load_template(REPO / "template.yaml"), "ScaleStateMachine", REPO)
    template = load_template(REPO / "template.yaml")
    assert {"Plan", "Apply"} <= set(steps)
    for state, logical_id in steps.items():
        assert template["Resources"][logical_id]["Type"] == "AWS::Serverless::Function", state


@pytest.mark.parametrize(
    ("bound", "reachable"), [("0.0.0.0:4566", True), ("172.17.0.1:4566", True), ("127.0.0.1:4566", False)]
)
def test_containers_reach_only_a_sandbox_bound_beyond_loopback(bound: str, reachable: bool) -> None:
    if reachable:
        assert container_endpoint({"bound_to": bound}, "172.17.0.1") == "http://172.17.0.1:4566"
    else:
        with pytest.raises(LocalInvokeError, match=r"--host 0\.0\.0\.0"):
            container_endpoint({"bound_to": bound}, "172.17.0.1")
