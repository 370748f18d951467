"""The backups bucket encrypts objects with Terraform's data key by default (SSE-KMS, infra/terraform/s3.tf):
S3 then asks KMS on the caller's behalf, so every function that writes an object there needs
kms:GenerateDataKey on that key, and every one that reads one needs kms:Decrypt ("Using server-side
encryption with AWS KMS keys", S3 user guide). Scoped to the key Terraform publishes (BackupsKmsKeyArn)
and to calls through S3."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cpctl.sandbox.template import load_template
from tests.conftest import REPO

RESOURCES = load_template(REPO / "template.yaml")["Resources"]
BUCKET = "${PlatformProject}-${Environment}-backups/"


def _statements(logical_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in RESOURCES[logical_id]["Properties"].get("Policies", []):
        found += policy.get("Statement", []) if isinstance(policy, dict) else []
    return found


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _object_actions(logical_id: str) -> set[str]:
    """S3 object actions the function is granted on objects of the backups bucket (not -dr, not others)."""
    found: set[str] = set()
    for statement in _statements(logical_id):
        if any(BUCKET in json.dumps(resource) for resource in _listed(statement["Resource"])):
            found |= {a for a in _listed(statement["Action"]) if a in {"s3:PutObject", "s3:GetObject"}}
    return found


def _key_actions(logical_id: str) -> set[str]:
    found: set[str] = set()
    for statement in _statements(logical_id):
        if statement["Resource"] == {"Ref": "BackupsKmsKeyArn"}:
            via = statement["Condition"]["StringEquals"]["kms:ViaService"]
            assert via == {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}, (logical_id, via)
            found |= set(_listed(statement["Action"]))
    return found


FUNCTIONS = sorted(name for name, spec in RESOURCES.items() if spec["Type"] == "AWS::Serverless::Function")
USERS = [name for name in FUNCTIONS if _object_actions(name)]


def test_the_backups_bucket_has_writers() -> None:
    assert {"BackupFunction", "RestoreDrillFunction", "CleanupFunction", "ReviewCostFunction"} <= set(USERS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_object_access_comes_with_exactly_the_key_actions_it_needs(function: str) -> None:
    objects = _object_actions(function)
    wanted = {"kms:GenerateDataKey"} if "s3:PutObject" in objects else set()
    wanted |= {"kms:Decrypt"} if "s3:GetObject" in objects else set()
    assert _key_actions(function) == wanted
