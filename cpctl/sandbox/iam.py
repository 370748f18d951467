"""The roles CloudFormation would create for the template, as data the sandbox can deploy into moto.

SAM turns a function's or state machine's ``Policies`` (inline statements, SAM policy templates such
as ``DynamoDBReadPolicy`` or ``LambdaInvokePolicy``, managed policy names) and its ``Tracing`` into an
``AWS::IAM::Role`` named ``<LogicalId>Role``. The sandbox does not expand any of that by hand: it runs
``samtranslator`` (the library ``sam validate`` and ``sam deploy`` use) on the template and takes the
roles from its output, then resolves their intrinsics against the deployed resources. AWS managed
policies (``AWSLambdaBasicExecutionRole``, ``AWSXrayWriteOnlyAccess``) are put on the role as inline
copies of their documents (moto's own copy of AWS's managed policies), because moto only attaches
managed policies when it loads all ~1,500 of them per account, which is slow.

Translation takes about a second (importing samtranslator and moto's managed-policy data), so the
result is cached on disk per (template, parameters, samtranslator, moto) and in the process.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

_CACHE_VERSION = "1"
_LOCK = threading.Lock()
_MEMORY: dict[str, TranslatedIam] = {}
# Properties that name local code; samtranslator wants S3 locations there and reads nothing from them.
_CODE_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")


@dataclass(frozen=True)
class RoleSpec:
    """One role SAM generates: its trust policy, inline policies and managed policies (as documents)."""

    logical_id: str
    trust: dict[str, Any]
    policies: list[tuple[str, Any]]
    managed: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class TranslatedIam:
    """What the sandbox needs from SAM's output.

    ``roles`` are the roles SAM generated (not in the template itself). ``function_roles`` and
    ``state_machine_roles`` map each function / state machine logical id to the expression of its role
    ARN (``Fn::GetAtt [XRole, Arn]`` for generated roles, or whatever the template said in ``Role``).
    """

    roles: dict[str, RoleSpec] = field(default_factory=dict)
    function_roles: dict[str, Any] = field(default_factory=dict)
    state_machine_roles: dict[str, Any] = field(default_factory=dict)


def translate(template: dict[str, Any], parameters: dict[str, str], region: str) -> TranslatedIam:
    """The roles of ``template`` (an already parsed SAM template) as SAM would create them."""
    key = _cache_key(template, parameters, region)
    found = _MEMORY.get(key)
    if found is not None:
        return found
    with _LOCK:
        found = _MEMORY.get(key) or _load_cached(key)
        if found is None:
            found = _translate(template, parameters, region)
            _store_cached(key, found)
        _MEMORY[key] = found
        return found


def _cache_key(template: dict[str, Any], parameters: dict[str, str], region: str) -> str:
    versions = [_version("aws-sam-translator"), _version("moto"), _CACHE_VERSION]
    text = json.dumps([template, parameters, region, versions], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # pragma: no cover - both are dependencies of the sandbox
        return "absent"


def _cache_path(key: str) -> Path:
    return Path(tempfile.gettempdir()) / "cpctl-sandbox" / f"sam-iam-{key}.json"


def _load_cached(key: str) -> TranslatedIam | None:
    try:
        raw = json.loads(_cache_path(key).read_text())
    except (OSError, ValueError):
        return None
    return TranslatedIam(
        roles={
            name: RoleSpec(
                logical_id=name,
                trust=spec["trust"],
                policies=[(p[0], p[1]) for p in spec["policies"]],
                managed=spec["managed"],
            )
            for name, spec in raw["roles"].items()
        },
        function_roles=raw["function_roles"],
        state_machine_roles=raw["state_machine_roles"],
    )


def _store_cached(key: str, translated: TranslatedIam) -> None:
    path = _cache_path(key)
    payload = {
        "roles": {
            name: {"trust": spec.trust, "policies": spec.policies, "managed": spec.managed}
            for name, spec in translated.roles.items()
        },
        "function_roles": translated.function_roles,
        "state_machine_roles": translated.state_machine_roles,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: parallel test workers never read half a file.
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "w") as stream:
            json.dump(payload, stream)
        Path(temporary).replace(path)
    except OSError:  # pragma: no cover - a read-only temp dir only costs the next start a translation
        pass


class _NoManagedPolicyNames:
    """samtranslator asks for this only when ``Policies`` names a managed policy by its bare name."""

    def load(self) -> dict[str, str]:
        return {}


def _translate(template: dict[str, Any], parameters: dict[str, str], region: str) -> TranslatedIam:
    from samtranslator.translator.transform import transform

    source = copy.deepcopy(template)
    for spec in source.get("Resources", {}).values():
        properties = spec.get("Properties", {})
        for name in _CODE_PROPERTIES:
            if isinstance(properties.get(name), str):
                properties[name] = f"s3://sandbox-code/{properties[name]}"
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region  # samtranslator reads the pseudo parameter AWS::Region here
    try:
        output = transform(source, dict(parameters), _NoManagedPolicyNames())
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved
    original = set(template.get("Resources", {}))
    resources: dict[str, Any] = output["Resources"]
    roles = {
        name: RoleSpec(
            logical_id=name,
            trust=spec["Properties"]["AssumeRolePolicyDocument"],
            policies=[(p["PolicyName"], p["PolicyDocument"]) for p in spec["Properties"].get("Policies", [])],
            managed={arn: managed_policy_document(arn) for arn in spec["Properties"].get("ManagedPolicyArns", [])},
        )
        for name, spec in resources.items()
        if spec["Type"] == "AWS::IAM::Role" and name not in original
    }
    function_roles = {
        name: spec["Properties"]["Role"] for name, spec in resources.items() if spec["Type"] == "AWS::Lambda::Function"
    }
    state_machine_roles = {
        name: spec["Properties"]["RoleArn"]
        for name, spec in resources.items()
        if spec["Type"] == "AWS::StepFunctions::StateMachine"
    }
    return TranslatedIam(roles=roles, function_roles=function_roles, state_machine_roles=state_machine_roles)


@cache
def _managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, Any] = json.loads(aws_managed_policies_data)
    return data


def managed_policy_document(arn: str) -> dict[str, Any]:
    """The document of an AWS managed policy (``arn:aws:iam::aws:policy/[path/]Name``), from moto's copy."""
    if not isinstance(arn, str) or ":iam::aws:policy/" not in arn:
        raise ValueError(f"the sandbox knows AWS managed policies only, not {arn!r}")
    name = arn.rsplit("/", 1)[-1]
    found = _managed_policies().get(name)
    if found is None:
        raise ValueError(f"moto has no copy of the managed policy {arn}")
    return dict(found["Document"])
