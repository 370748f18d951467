"""LockUnit, DeleteBatch, DeferUnit and UnitFailed of the Cleanup workflow's Map (routed on ``task``)."""

from controlplane.cleanup import entry
from controlplane.observability import task_handler

lambda_handler = task_handler(entry.handle_delete)
