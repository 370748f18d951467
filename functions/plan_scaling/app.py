"""Validate the request, read the resource, plan the change and run every guard (no side effect)."""

from controlplane import scaling
from controlplane.observability import task_handler

lambda_handler = task_handler(scaling.handle_plan)
