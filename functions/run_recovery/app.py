"""Every task of the Recovery workflow (routed on the event's ``task``)."""

from controlplane.backup import recovery
from controlplane.observability import task_handler

lambda_handler = task_handler(recovery.handle)
