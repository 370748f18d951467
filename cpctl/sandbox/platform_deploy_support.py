"""What the sandbox needs for PlatformDeploy: creators for S3 buckets and bucket policies and CodeBuild
projects, in deploy order, and the knobs of the emulated Terraform builds (``moto_patches.codebuild``).

Buckets come right after the KMS keys (the functions name the artefact bucket, the build roles its
ARN); CodeBuild projects come last, after the IAM roles they run with.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cpctl.sandbox.moto_patches.codebuild import EMULATION
from cpctl.sandbox.template import Resolver

if TYPE_CHECKING:
    from cpctl.sandbox.runtime import Sandbox

Creator = Callable[[str, dict[str, Any], Resolver], dict[str, str]]


def ordered(sandbox: Sandbox, creators: dict[str, Creator]) -> dict[str, Creator]:
    """``creators`` with this module's inserted where their dependencies are met."""
    early = {
        "AWS::S3::Bucket": lambda lid, p, r: create_bucket(sandbox, p, r),
        "AWS::S3::BucketPolicy": lambda lid, p, r: create_bucket_policy(sandbox, lid, p, r),
    }
    result: dict[str, Creator] = {}
    for name, creator in creators.items():
        result[name] = creator
        if name == "AWS::KMS::Key":
            result.update(early)
    result.update(early)  # no KMS key type: still before nothing else needs them
    result["AWS::CodeBuild::Project"] = lambda lid, p, r: create_project(sandbox, p, r)
    return result


def create_bucket(sandbox: Sandbox, props: dict[str, Any], r: Resolver) -> dict[str, str]:
    p = r.resolve(props)
    s3 = sandbox.client("s3")
    name = p["BucketName"]
    s3.create_bucket(Bucket=name)
    if p.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if "BucketEncryption" in p:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
                    **(
                        {"KMSMasterKeyID": rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]}
                        if "KMSMasterKeyID" in rule["ServerSideEncryptionByDefault"]
                        else {}
                    ),
                },
                "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False)),
            }
            for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in p:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
    arn = f"arn:aws:s3:::{name}"
    return {"Ref": name, "Arn": arn, "DomainName": f"{name}.s3.amazonaws.com"}


def create_bucket_policy(sandbox: Sandbox, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
    """The policy without its conditional statements: moto's bucket-policy evaluation treats every condition
    as met, so the TLS-only Deny (``aws:SecureTransport`` false) would deny every request here.
    tests/infra checks that statement against the template instead."""
    p = r.resolve(props)
    document = dict(p["PolicyDocument"])
    document["Statement"] = [s for s in document.get("Statement", []) if "Condition" not in s]
    if document["Statement"]:
        sandbox.client("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(document))
    return {"Ref": logical_id}


def create_project(sandbox: Sandbox, props: dict[str, Any], r: Resolver) -> dict[str, str]:
    p = r.resolve(props)
    source = p["Source"]
    environment = p["Environment"]
    project = sandbox.client("codebuild").create_project(
        name=p["Name"],
        description=p.get("Description", ""),
        source={
            "type": source["Type"],
            "location": source.get("Location", ""),
            "buildspec": source.get("BuildSpec", ""),
        },
        artifacts={"type": p["Artifacts"]["Type"]},
        environment={
            "type": environment["Type"],
            "image": environment["Image"],
            "computeType": environment["ComputeType"],
            "environmentVariables": [
                {"name": v["Name"], "value": str(v["Value"]), "type": v.get("Type", "PLAINTEXT")}
                for v in environment.get("EnvironmentVariables", [])
            ],
        },
        serviceRole=p["ServiceRole"],
        timeoutInMinutes=int(p.get("TimeoutInMinutes", 60)),
    )["project"]
    return {"Ref": p["Name"], "Arn": str(project["arn"])}


def set_changes(changes: list[dict[str, Any]]) -> None:
    """What the next plan (or drift check) finds; an apply clears it (see ``moto_patches.codebuild``)."""
    EMULATION.set_changes(changes)


def overwrite_plan(sandbox: Sandbox, key: str, body: bytes = b"a plan nobody approved") -> None:
    """Replace a saved plan in the artefact bucket (as someone with write access could): the apply refuses it."""
    sandbox.client("s3").put_object(Bucket=sandbox.resources["ArtefactBucket"]["Ref"], Key=key, Body=body)
