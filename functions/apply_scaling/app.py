"""Apply a planned capacity change under the lease, idempotently."""

from controlplane import scaling
from controlplane.observability import task_handler

lambda_handler = task_handler(scaling.handle_apply)
