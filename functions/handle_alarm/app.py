"""Remediation entry point: CloudWatch alarm state changes (EventBridge) and Alertmanager notifications (SNS)."""

from controlplane.observability import task_handler
from controlplane.remediation import entry

lambda_handler = task_handler(entry.handle_event)
