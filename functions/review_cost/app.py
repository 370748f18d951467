"""Review and Record of the weekly Cost and utilization review (routed on the event's ``task``)."""

from controlplane.costreview import entry
from controlplane.observability import task_handler

lambda_handler = task_handler(entry.handle_review)
