"""Validate, AcquireLease, StartPlan/StartApply, CheckPlan/CheckApply of PlatformDeploy (routed on ``task``)."""

from controlplane.deploy import steps
from controlplane.observability import task_handler

lambda_handler = task_handler(steps.handle_build)
