"""Record the outcome: audit item, metric, EventBridge event, SNS notification."""

from controlplane import scaling
from controlplane.observability import task_handler

lambda_handler = task_handler(scaling.handle_record)
