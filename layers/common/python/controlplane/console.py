"""Links into the AWS console, for notifications and ``cpctl``: a person on call clicks from a message
to the execution that sent it."""

from __future__ import annotations


def execution_url(execution_arn: str) -> str:
    """The Step Functions console's page of one execution (its region is the ARN's)."""
    parts = execution_arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else "us-east-1"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def execution_arn(state_machine_arn: str, execution_name: str) -> str:
    """The ARN of a Standard workflow's execution: its state machine's ARN with ``execution`` and the name."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{execution_name}"


# The state machines' names follow one pattern (template.yaml: ``sip-controlplane-<workflow>-<env>``); the
# template gives it to every function, so any workflow's record step can link its own execution.
STATE_MACHINE_NAME_PATTERN_VARIABLE = "STATE_MACHINE_NAME_PATTERN"


def execution_arn_of(workflow: str, execution_name: str, topic_arn: str, pattern: str | None) -> str | None:
    """The execution's ARN from the workflow's name, the pattern of state machine names and the partition,
    region and account of the control plane's topic (same stack); None when the pattern is not set."""
    parts = topic_arn.split(":")
    if not pattern or "{workflow}" not in pattern or len(parts) < 6 or not execution_name:
        return None
    partition, region, account = parts[1], parts[3], parts[4]
    name = pattern.replace("{workflow}", workflow)
    return f"arn:{partition}:states:{region}:{account}:execution:{name}:{execution_name}"
