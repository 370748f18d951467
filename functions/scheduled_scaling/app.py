"""Business-hours scaling from EventBridge Scheduler: park (remember the size) or restore, via the Scale workflow."""

from controlplane.observability import task_handler
from controlplane.remediation import schedules

lambda_handler = task_handler(schedules.handle_schedule)
