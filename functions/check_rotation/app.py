"""CheckProgress, Verify and ObserveAfterError of the Rotation workflow (in the VPC: it logs in)."""

from controlplane.observability import task_handler
from controlplane.rotation import workflow

lambda_handler = task_handler(workflow.handle_check)
