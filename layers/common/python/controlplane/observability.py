"""The one Logger, Tracer and Metrics of the control plane (Powertools), made once per process.

Log level and tracing switches come from the standard POWERTOOLS_* environment variables set in
the template's Globals. Service and namespace are fixed here too: Powertools reads them when these
objects are made, which may be before a handler's environment exists (a test importing the layer,
the sandbox), and a metric without a namespace cannot be flushed at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

SERVICE = "controlplane"
NAMESPACE = "SIP/ControlPlane"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)


def task_handler(step: Callable[[Any], Any]) -> Callable[[dict[str, Any], LambdaContext], Any]:
    """Wrap a domain entry point as a Lambda handler: context in logs, a trace, metrics flushed.

    Models are returned as JSON-ready dicts; domain errors propagate so Step Functions sees their names.
    """

    @logger.inject_lambda_context(log_event=False)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
        result = step(event)
        return result.model_dump(mode="json") if isinstance(result, BaseModel) else result

    return cast("Callable[[dict[str, Any], LambdaContext], Any]", lambda_handler)
