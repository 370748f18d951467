"""Where ``cpctl`` works: a served sandbox (``--endpoint-url`` / ``AWS_ENDPOINT_URL``) or a deployed stack
(its outputs, by ``--stack-name`` or ``--environment`` -> ``sip-controlplane-<env>``).

Both give the same thing: the state machines by logical id (a sandbox lists them at ``/_sandbox``; a
stack's outputs name them ``<Name>StateMachineArn``), the state table, the region, and clients made
for that endpoint. Nothing is looked up until a command needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cpctl.ops import workflows
from cpctl.ops.errors import CpctlError, Exit

STACK_PREFIX = "sip-controlplane-"
OUTPUT_SUFFIX = "StateMachineArn"


@dataclass
class Target:
    endpoint_url: str | None = None
    stack_name: str | None = None
    environment: str | None = None
    region: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(
        cls, endpoint_url: str | None, stack_name: str | None, environment: str | None, region: str | None
    ) -> Target:
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        return cls(
            endpoint_url=endpoint,
            stack_name=stack_name,
            environment=environment or os.environ.get("CPCTL_ENVIRONMENT") or None,
            region=region,
        )

    @property
    def where(self) -> str:
        return self.endpoint_url or f"stack {self.resolved_stack_name}"

    # --- clients ---------------------------------------------------------------------------------

    @cached_property
    def _sandbox(self) -> dict[str, Any] | None:
        """What a served sandbox says it deployed, when the endpoint is one (None for AWS or another emulator)."""
        if not self.endpoint_url or self.stack_name:
            return None
        from cpctl.sandbox.control import ControlClient, InvalidRequest

        try:
            return ControlClient(self.endpoint_url, timeout=5).describe()
        except InvalidRequest:  # answered, but not a sandbox: an endpoint of another kind
            return None
        except ConnectionError:
            raise CpctlError(
                f"cannot reach {self.endpoint_url}",
                Exit.UNREACHABLE,
                "start one with `cpctl sandbox up`, or check --endpoint-url / AWS_ENDPOINT_URL",
            ) from None

    @cached_property
    def resolved_region(self) -> str | None:
        if self.region:
            return self.region
        if self._sandbox:
            return str(self._sandbox["region"])
        return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session(region_name=self.resolved_region)
            kwargs: dict[str, Any] = {"config": Config(retries={"max_attempts": 5, "mode": "standard"})}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            if self._sandbox and not session.get_credentials():
                # A sandbox takes any keys; a person who set none should not have to.
                kwargs.update(aws_access_key_id="testing", aws_secret_access_key="testing")
            self._clients[service] = session.client(service, **kwargs)  # type: ignore[call-overload]
        return self._clients[service]

    # --- what is deployed ------------------------------------------------------------------------

    @property
    def resolved_stack_name(self) -> str:
        if self.stack_name:
            return self.stack_name
        if self.environment:
            return f"{STACK_PREFIX}{self.environment}"
        raise CpctlError(
            "no target: which control plane?",
            Exit.USAGE,
            "pass --environment ENV or --stack-name NAME (or --endpoint-url for a sandbox)",
        )

    @cached_property
    def _outputs(self) -> dict[str, str]:
        from cpctl.ops.errors import from_aws

        stack = self.resolved_stack_name
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
        except Exception as exc:
            mapped = from_aws(exc, self.endpoint_url)
            if mapped and mapped.exit_code == Exit.NOT_FOUND:
                raise CpctlError(f"no stack {stack}", Exit.NOT_FOUND, "check --stack-name / --environment") from None
            raise mapped or exc from None
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}

    @cached_property
    def state_machines(self) -> dict[str, str]:
        """ARN by logical id (``ScaleStateMachine``), for every workflow deployed here."""
        if self._sandbox:
            return dict(self._sandbox["state_machines"])
        return {
            key.removesuffix("Arn"): value
            for key, value in self._outputs.items()
            if key.endswith(OUTPUT_SUFFIX) and key != OUTPUT_SUFFIX
        }

    @cached_property
    def state_table(self) -> str:
        if self._sandbox:
            return str(self._sandbox["state_table"])
        table = self._outputs.get("StateTableName")
        if not table:
            raise CpctlError(
                f"{self.where} has no StateTableName output", Exit.NOT_FOUND, "deploy the current template"
            )
        return table

    def state_machine(self, wanted: str) -> tuple[str, str]:
        """(logical id, ARN) of the workflow ``wanted`` names (``scale``, ``RestoreDrill``, an ARN)."""
        if wanted.startswith("arn:"):
            # An ARN needs no stack to look it up in: name it from the stack when there is one.
            try:
                known = self.state_machines
            except CpctlError:
                known = {}
            for logical_id, arn in known.items():
                if arn == wanted:
                    return logical_id, arn
            return wanted.rsplit(":", 1)[-1], wanted
        logical_id = workflows.resolve(wanted, list(self.state_machines))
        return logical_id, self.state_machines[logical_id]

    def workflow_of_arn(self, arn: str) -> str:
        """The workflow name of a state machine or execution ARN (``scale``), or its name when unknown."""
        machine = arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0] if ":execution:" in arn else arn
        for logical_id, known in self.state_machines.items():
            if known == machine:
                return workflows.name_of(logical_id)
        return machine.rsplit(":", 1)[-1]

    def execution_arn(self, wanted: str) -> str:
        """An execution's ARN from its ARN or its name (looked up in every workflow deployed here)."""
        if wanted.startswith("arn:"):
            return wanted
        from controlplane.console import execution_arn

        from cpctl.ops.errors import from_aws

        sfn = self.client("stepfunctions")
        for machine in self.state_machines.values():
            candidate = execution_arn(machine, wanted)
            try:
                sfn.describe_execution(executionArn=candidate)
            except Exception as exc:
                mapped = from_aws(exc, self.endpoint_url)
                if mapped is not None and mapped.exit_code == Exit.NOT_FOUND:
                    continue
                raise mapped or exc from None
            return candidate
        raise CpctlError(
            f"no execution named {wanted!r} in {self.where}", Exit.NOT_FOUND, "list them: cpctl executions"
        )
