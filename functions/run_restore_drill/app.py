"""Every task of the Restore drill (routed on the event's ``task``)."""

from controlplane.backup import drill
from controlplane.observability import task_handler

lambda_handler = task_handler(drill.handle)
