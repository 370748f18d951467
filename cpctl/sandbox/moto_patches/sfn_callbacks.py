"""Task tokens that time out on the sandbox's clock, and heartbeat timeouts named as AWS names them.

moto's parser waits for a ``.waitForTaskToken`` callback on a ``threading.Event`` in real time, for
``TimeoutSeconds`` (an approval's day) or ``HeartbeatSeconds``, and reports a missed heartbeat as
``States.Timeout``. AWS fails the task with ``States.HeartbeatTimeout`` when no SendTaskHeartbeat
came within HeartbeatSeconds and with ``States.Timeout`` when TimeoutSeconds passed (SendTaskHeartbeat
resets only the heartbeat clock; "The Timeout of a task ... is its maximum allowed duration,
regardless of the number of SendTaskHeartbeat requests received").

moto also drops SendTaskFailure's ``cause`` (the rejection's comment) and, after a task timed out,
still accepts an answer to its token while the execution runs on; AWS answers ``TaskTimedOut``.

Here both deadlines are measured on the control plane's clock (``controlplane.clock``), which
``Sandbox.advance_clock`` moves: a test lets an approval time out by advancing the clock past it, and
an answer (SendTaskSuccess / SendTaskFailure) or a heartbeat arriving before that is honoured.
"""

from __future__ import annotations

from typing import Any

_APPLIED: dict[str, Any] = {}
SLICE_SECONDS = 0.01


def _now() -> float:
    from controlplane import clock

    return clock.now().timestamp()


def _eval_wait_for_task_token(
    self: Any, env: Any, timeout_seconds: int, callback_endpoint: Any, heartbeat_endpoint: Any
) -> Any:
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackOutcomeTimedOut,
        HeartbeatTimedOut,
    )

    # As in AWS, the task's clocks start when the task does (before the Lambda that sends the token
    # runs), not when moto begins to wait: a test that advances the clock as soon as it has the token
    # must find the wait already counting.
    started = float(getattr(callback_endpoint, "sandbox_started", None) or _now())
    deadline = started + float(timeout_seconds)
    heartbeat = float(heartbeat_endpoint._heartbeat_seconds) if heartbeat_endpoint is not None else None
    last_beat = started
    while env.is_running():
        outcome = callback_endpoint.get_outcome()
        if outcome is not None:
            return outcome
        if heartbeat_endpoint is not None and heartbeat_endpoint._next_heartbeat_event.is_set():
            with heartbeat_endpoint._mutex:
                heartbeat_endpoint._next_heartbeat_event.clear()
            last_beat = _now()
            continue
        now = _now()
        if now >= deadline:
            callback_endpoint.report(CallbackConsumerTimeout())
            return CallbackOutcomeTimedOut(callback_id=callback_endpoint.callback_id)
        if heartbeat is not None and now >= last_beat + heartbeat:
            callback_endpoint.report(CallbackConsumerTimeout())
            return HeartbeatTimedOut()
        callback_endpoint._notify_event.wait(SLICE_SECONDS)
    return CallbackOutcomeTimedOut(callback_id=callback_endpoint.callback_id)


def _add(self: Any, callback_id: str) -> Any:
    endpoint = _APPLIED["add"](self, callback_id)
    endpoint.sandbox_started = _now()
    return endpoint


def _from_error(self: Any, env: Any, ex: Exception) -> Any:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskTimedOutEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    if isinstance(ex, HeartbeatTimeoutError):
        name = StatesErrorNameType.StatesHeartbeatTimeout
        return FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=name),
            event_type=HistoryEventType.TaskTimedOut,
            event_details=EventDetails(taskTimedOutEventDetails=TaskTimedOutEventDetails(error=name.to_name())),  # type: ignore[typeddict-item]
        )
    return _APPLIED["from_error"](self, env, ex)


def _send_task_failure(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def apply() -> None:
    if _APPLIED:
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.responses import StepFunctionResponse

    _APPLIED["send_task_failure"] = StepFunctionResponse.send_task_failure
    StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager

    _APPLIED["add"] = CallbackPoolManager.add
    CallbackPoolManager.add = _add  # type: ignore[method-assign]
    _APPLIED["wait"] = StateTaskServiceCallback._eval_wait_for_task_token
    _APPLIED["from_error"] = StateTaskServiceCallback._from_error
    StateTaskServiceCallback._eval_wait_for_task_token = _eval_wait_for_task_token  # type: ignore[method-assign]
    StateTaskServiceCallback._from_error = _from_error  # type: ignore[method-assign]


def targets() -> list[str]:
    base = "moto.stepfunctions.parser.asl"
    return [
        f"{base}.component.state.exec.state_task.service.state_task_service_callback.StateTaskServiceCallback._eval_wait_for_task_token",
        f"{base}.component.state.exec.state_task.service.state_task_service_callback.StateTaskServiceCallback._from_error",
        f"{base}.eval.callback.callback.HeartbeatEndpoint",
        f"{base}.eval.callback.callback.HeartbeatTimeoutError",
        f"{base}.eval.callback.callback.CallbackOutcomeTimedOut",
        f"{base}.eval.callback.callback.HeartbeatTimedOut",
        f"{base}.component.common.error_name.states_error_name_type.StatesErrorNameType.StatesHeartbeatTimeout",
        f"{base}.component.common.error_name.failure_event.FailureEvent",
        "moto.stepfunctions.parser.api.TaskTimedOutEventDetails",
        f"{base}.eval.callback.callback.CallbackConsumerTimeout",
        f"{base}.eval.callback.callback.CallbackPoolManager.add",
        "moto.stepfunctions.responses.StepFunctionResponse.send_task_failure",
        "moto.core.responses.EmptyResult",
    ]
