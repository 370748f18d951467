"""The ``states:startExecution(.sync:2)`` integration as Step Functions runs it, where moto's parser stops short.

moto's port of the ASL interpreter stubs out request/response normalisation (LocalStack's
``_normalise_parameters`` / ``_normalise_response`` map ASL's ``StateMachineArn`` to boto's
``stateMachineArn`` and back). Without it the Remediation workflow's StartScale task fails with
``KeyError: 'StateMachineArn'``. This module applies that mapping for the Step Functions
integration only (with botocore's service model, as LocalStack does), and makes the ``.sync``
poll interval instant (moto sleeps 0.5 s of real time per poll).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback as callback_module,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)

_APPLIED: dict[str, Any] = {}


@cache
def _operation(action: str) -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("stepfunctions")
    for name in model.operation_names:
        if name.lower() == action.replace("_", "").lower():
            return model.operation_model(name)
    raise KeyError(f"stepfunctions has no operation {action}")


def _normalise_parameters(
    self: StateTaskServiceSfn,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    _APPLIED["normalise_parameters"](self, parameters, boto_service_name, service_action_name)
    action = service_action_name or self._get_boto_service_action()
    self._to_boto_request(parameters, _operation(action).input_shape)


def _normalise_response(
    self: StateTaskServiceSfn,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    action = service_action_name or self._get_boto_service_action()
    self._from_boto_response(response, _operation(action).output_shape)


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["normalise_parameters"] = StateTaskServiceSfn._normalise_parameters
    StateTaskServiceSfn._normalise_parameters = _normalise_parameters  # type: ignore[method-assign]
    StateTaskServiceSfn._normalise_response = _normalise_response  # type: ignore[method-assign,assignment]
    callback_module._DELAY_SECONDS_SYNC_CONDITION_CHECK = 0.01  # type: ignore[misc]


def targets() -> list[str]:
    base = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
    return [
        f"{base}.state_task_service_sfn.StateTaskServiceSfn._normalise_parameters",
        f"{base}.state_task_service_sfn.StateTaskServiceSfn._get_boto_service_action",
        f"{base}.state_task_service.StateTaskService._to_boto_request",
        f"{base}.state_task_service.StateTaskService._from_boto_response",
        f"{base}.state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK",
    ]
