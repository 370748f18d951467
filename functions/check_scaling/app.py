"""Poll a change's progress once; the state machine waits between polls."""

from controlplane import scaling
from controlplane.observability import task_handler

lambda_handler = task_handler(scaling.handle_check)
