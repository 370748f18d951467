"""Every task of the Backup workflow (routed on the event's ``task``): one function, one cold start per run."""

from controlplane.backup import steps
from controlplane.observability import task_handler

lambda_handler = task_handler(steps.handle)
