"""Release this execution's lease; runs on every path, success or failure."""

from controlplane import scaling
from controlplane.observability import task_handler

lambda_handler = task_handler(scaling.handle_release)
