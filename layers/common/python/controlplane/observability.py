"""The one Logger, Tracer and Metrics of the control plane (Powertools), made once per process.

Service name, log level, namespace and tracing switches come from the
standard POWERTOOLS_* environment variables set in the template's Globals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

logger = Logger()
tracer = Tracer()
metrics = Metrics()


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
