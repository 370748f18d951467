"""Secrets Manager rotation function of the PostgreSQL secrets (alternating users, single user)."""

from controlplane.observability import task_handler
from controlplane.rotation import functions

lambda_handler = task_handler(functions.handle_postgres)
