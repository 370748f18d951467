"""Plan, AcquireLease, Prepare, Apply and Finalize of the Scale workflow (routed on the event's ``task``)."""

from controlplane import scaling
from controlplane.observability import task_handler

lambda_handler = task_handler(scaling.handle_change)
