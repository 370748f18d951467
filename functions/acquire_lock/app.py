"""Take the per-resource lease so two executions never change one resource at once."""

from controlplane import scaling
from controlplane.observability import task_handler

lambda_handler = task_handler(scaling.handle_acquire_lock)
