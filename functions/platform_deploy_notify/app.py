"""RequestApproval (the plan summary and the task token to people) and RecordOutcome of PlatformDeploy."""

from controlplane.deploy import steps
from controlplane.observability import task_handler

lambda_handler = task_handler(steps.handle_notify)
