"""Secrets Manager rotation function of the Redis AUTH token (ModifyReplicationGroup ROTATE)."""

from controlplane.observability import task_handler
from controlplane.rotation import functions

lambda_handler = task_handler(functions.handle_redis)
