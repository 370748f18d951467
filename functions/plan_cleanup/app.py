"""Plan, Finish and ReleaseAll of the Cleanup workflow (routed on the event's ``task``)."""

from controlplane.cleanup import entry
from controlplane.observability import task_handler

lambda_handler = task_handler(entry.handle_cleanup)
