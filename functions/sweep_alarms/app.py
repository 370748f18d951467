"""Sweep of the environment's alarms still in ALARM: another chance for those whose one event was suppressed."""

from controlplane.observability import task_handler
from controlplane.remediation import sweep

lambda_handler = task_handler(sweep.handle_sweep)
