"""End of a Remediation execution: outcome, escalation, release of the in-flight claim, audit."""

from controlplane.observability import task_handler
from controlplane.remediation import finish

lambda_handler = task_handler(finish.handle_finish)
