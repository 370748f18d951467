"""``SendTaskFailure`` keeps its ``cause``, as in AWS.

moto 5.2.5's ``StepFunctionResponse.send_task_failure`` reads only ``taskToken`` and ``error`` and
drops ``cause``, so a task failed through a callback (a rejected approval: error ``ApprovalRejected``,
the reviewer's comment as cause) shows no cause in the execution history. The ASL backend underneath
takes a cause; this passes it on.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import EmptyResult
from moto.stepfunctions import responses

_APPLIED: dict[str, Any] = {}


def _send_task_failure(self: Any) -> Any:
    task_token = self._get_param("taskToken")
    self.stepfunction_backend.send_task_failure(
        task_token, error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["send_task_failure"] = responses.StepFunctionResponse.send_task_failure
    responses.StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]


def targets() -> list[str]:
    return [
        "moto.stepfunctions.responses.StepFunctionResponse.send_task_failure",
        "moto.core.responses.EmptyResult",
        "moto.stepfunctions.parser.models.StepFunctionsParserBackend.send_task_failure",
    ]
