"""The remediation's sample events (events/alarm, schedule, sweep_alarms) decide as their names say."""

from __future__ import annotations

import pytest
from controlplane.models.errors import InvalidRequest
from controlplane.remediation import schedules, sweep
from controlplane.remediation.events import Signal, Unusable, signals_of

from tests.conftest import EVENTS, load_event


def test_the_reset_sample_is_the_control_planes_own_ok() -> None:
    [signal] = signals_of(load_event("alarm/eks-cpu-high-reset-by-controlplane.json"))
    assert isinstance(signal, Signal) and signal.state == "OK" and signal.is_controlplane_reset
    [alarm] = signals_of(load_event("alarm/eks-cpu-high-ok.json"))
    assert isinstance(alarm, Signal) and not alarm.is_controlplane_reset


def test_the_one_bad_alert_sample_has_one_alert_to_act_on() -> None:
    items = signals_of(load_event("alarm/alertmanager-one-bad-alert.json"))
    assert [type(i).__name__ for i in items] == ["Unusable", "Signal", "Unusable"]
    assert all(isinstance(i, Unusable) and i.status == "Rejected" for i in (items[0], items[2]))


@pytest.mark.parametrize("path", sorted((EVENTS / "schedule").glob("*.json")), ids=lambda p: p.stem)
def test_schedule_samples(path: object) -> None:
    name = getattr(path, "name", "")
    event = load_event(f"schedule/{name}")
    if name.startswith("invalid-"):
        with pytest.raises(InvalidRequest, match="unknown resource kind"):
            schedules.handle_schedule(event)
    else:
        assert schedules.ScheduledScaling.model_validate(event).resource.kind == "nodegroup"


def test_sweep_sample() -> None:
    assert sweep.SweepRequest.model_validate(load_event("sweep_alarms/sweep.json")).schedule == "sweep-alarms"
