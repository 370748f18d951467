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
