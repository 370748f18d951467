"""CheckProgress (one poll, renewing the lease) and ObserveAfterError of the Scale workflow."""

from controlplane import scaling
from controlplane.observability import task_handler

lambda_handler = task_handler(scaling.handle_check)
