"""Plan, AcquireLease, Apply (RotateSecret, or SET of a Redis token) and Record of the Rotation workflow."""

from controlplane.observability import task_handler
from controlplane.rotation import workflow

lambda_handler = task_handler(workflow.handle_change)
