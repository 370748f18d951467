"""checkov scans infra/terraform and template.yaml from its own virtualenv with zero failed checks; a
finding is accepted only as an inline skip that gives a reason. Runs in CI (never skipped): a missing
checkov is installed into .venv-checkov first, and a failed install fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpctl.tools import checkov


@pytest.fixture(scope="module")
def results() -> dict[str, checkov.ScanResult]:
    return {result.target: result for result in checkov.run_all()}


@pytest.mark.parametrize("target", [target.name for target in checkov.TARGETS])
def test_no_failed_check(results: dict[str, checkov.ScanResult], target: str) -> None:
    result = results[target]
    assert result.problems == []
    assert result.resources > 40, "checkov must have read the configuration, not an empty directory"
    assert result.passed > 30


def test_the_pinned_checkov_runs_from_its_own_virtualenv() -> None:
    # Installs it when this test runs first on a clean clone (make test leaves checkov to this module).
    checkov.ensure_installed()
    assert checkov.installed_version() == checkov.CHECKOV_VERSION
    assert checkov.checkov_bin().is_relative_to(checkov.VENV_DIR)
    assert f"checkov=={checkov.CHECKOV_VERSION}" in checkov.CONSTRAINTS.read_text().splitlines()


def test_every_skip_in_the_scans_has_a_reason(results: dict[str, checkov.ScanResult]) -> None:
    skipped = [check for result in results.values() for check in result.skipped]
    assert skipped, "the configuration has inline skips: they must be seen"
    for check in skipped:
        assert len(checkov.suppress_comment(check).split()) >= checkov.MIN_REASON_WORDS, check["check_id"]


def test_a_finding_and_a_skip_without_reason_are_problems(tmp_path: Path) -> None:
    """The runner reports what checkov finds: an unencrypted bucket fails, a bare skip is refused."""
    (tmp_path / "main.tf").write_text(
        'resource "aws_sqs_queue" "plain" {\n  name = "plain"\n}\n\n'
        'resource "aws_sns_topic" "skipped" {\n  #checkov:skip=CKV_AWS_26:ok\n  name = "skipped"\n}\n'
    )
    result = checkov.scan(checkov.Target("probe", ("-d", str(tmp_path), "--framework", "terraform")))
    problems = "\n".join(result.problems)
    assert "CKV_AWS_27" in problems  # SQS queue not encrypted
    assert "skip of CKV_AWS_26 on aws_sns_topic.skipped gives no reason" in problems


def test_a_function_skipping_the_vpc_check_is_outside_the_vpc() -> None:
    """CKV_AWS_117's skip says "AWS APIs only": a function in the VPC (it talks to PostgreSQL or Redis)
    must not carry it."""
    from cpctl.sandbox.template import load_template

    resources = load_template(checkov.REPO_ROOT / "template.yaml")["Resources"]
    skipping = [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and "CKV_AWS_117" in {skip["id"] for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}
    ]
    assert skipping
    for name in skipping:
        assert "VpcConfig" not in resources[name]["Properties"], name


PLAN_JSON = {
    "format_version": "1.2",
    "terraform_version": "1.11.4",
    "planned_values": {
        "root_module": {
            "resources": [
                {
                    "address": "aws_ssm_parameter.p",
                    "mode": "managed",
                    "type": "aws_ssm_parameter",
                    "name": "p",
                    "provider_name": "registry.terraform.io/hashicorp/aws",
                    "schema_version": 0,
                    "values": {"name": "/x/y", "type": "String", "value": "v", "tags": None},
                }
            ]
        }
    },
    "resource_changes": [
        {
            "address": "aws_ssm_parameter.p",
            "mode": "managed",
            "type": "aws_ssm_parameter",
            "name": "p",
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {"actions": ["create"], "before": None, "after": {"name": "/x/y", "type": "String"}},
        }
    ],
}


def test_a_plan_scan_applies_the_inline_skips_only_with_plan_enrichment(tmp_path: Path) -> None:
    """PlatformDeploy's plan build scans plan.json: checkov reads the code's #checkov:skip comments there only
    with --repo-root-for-plan-enrichment, so infra/buildspecs/plan.yml passes the Terraform directory."""
    import json

    (tmp_path / "main.tf").write_text(
        'resource "aws_ssm_parameter" "p" {\n'
        "  #checkov:skip=CKV2_AWS_34:identifiers only, no secret in this parameter\n"
        '  name  = "/x/y"\n  type  = "String"\n  value = "v"\n}\n'
    )
    (tmp_path / "plan.json").write_text(json.dumps(PLAN_JSON))
    plan = ("--file", str(tmp_path / "plan.json"), "--framework", "terraform_plan")
    bare = checkov.scan(checkov.Target("plan", plan))
    enriched = checkov.scan(checkov.Target("plan", (*plan, "--repo-root-for-plan-enrichment", str(tmp_path))))
    assert [check["check_id"] for check in bare.failed] == ["CKV2_AWS_34"]
    assert enriched.failed == [] and [check["check_id"] for check in enriched.skipped] == ["CKV2_AWS_34"]
    buildspec = (checkov.REPO_ROOT / "infra" / "buildspecs" / "plan.yml").read_text()
    scan_line = next(line for line in buildspec.splitlines() if "checkov --file plan.json" in line)
    assert "--repo-root-for-plan-enrichment ." in scan_line
    assert 'cd "$CODEBUILD_SRC_DIR/infra/terraform"' in buildspec
