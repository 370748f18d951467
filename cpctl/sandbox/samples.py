"""Sample events for `sam local invoke -e` and the handler tests, captured from a real sandbox execution.

``python -m cpctl.sandbox.samples`` runs the sample PlatformDeploy (``events/terraform/deploy.json``,
approved) and the sample Scale request (``events/scale/nodegroup_scale_up.json``)
through the Scale workflow in a fresh sandbox under a fixed execution name, and writes the event
each task received to ``events/<function dir>/<task>.json``. ``tests/unit/test_sample_events.py``
compares the committed samples with a fresh capture, so a change of a task's input that leaves the
samples stale fails the suite.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cpctl import REPO_ROOT

EXECUTION = "sample-scale-up"
REQUEST = "events/scale/nodegroup_scale_up.json"


def _function_dirs() -> dict[str, str]:
    """Logical id -> functions/<dir> name, from the template."""
    from cpctl.sandbox.template import load_template

    resources = load_template(REPO_ROOT / "template.yaml")["Resources"]
    return {
        logical_id: Path(str(spec["Properties"]["CodeUri"])).name
        for logical_id, spec in resources.items()
        if spec["Type"] == "AWS::Serverless::Function"
    }


def capture() -> dict[str, Any]:
    """Relative path under events/ -> the event one task of the sample execution received."""
    from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY
    from cpctl.sandbox.runtime import Sandbox

    dirs = _function_dirs()
    samples: dict[str, Any] = {}
    with Sandbox() as sandbox:
        report = sandbox.run("ScaleStateMachine", json.loads((REPO_ROOT / REQUEST).read_text()), name=EXECUTION)
        if report.outcome != "Succeeded":
            raise RuntimeError(f"the sample execution ended {report.outcome}: {report.reason}")
        for invocation in REGISTRY.invocations:
            if invocation["execution"] != EXECUTION:
                continue
            event = invocation["event"]
            name = event.get("task", "nodegroup") if isinstance(event, dict) else "nodegroup"
            samples.setdefault(f"{dirs[invocation['function']]}/{name}.json", event)
    # ObserveAfterError gets the state as it was when a step failed; the check event's state will do.
    check = samples.get("check_scaling/check.json")
    if check is not None:
        samples["check_scaling/observe.json"] = {**check, "task": "observe"}
    return samples


PLATFORM_EXECUTION = "sample-platform-deploy"
PLATFORM_REQUEST = "events/terraform/deploy.json"


def capture_platform_deploy() -> dict[str, Any]:
    """The events of a PlatformDeploy that plans a change, is approved and applies it, per task
    (``<task>.json``, or ``<task>_<build>.json`` for the build tasks); tokens, ids and times vary."""
    import time

    from cpctl import approvals
    from cpctl.sandbox import platform_deploy_support
    from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY
    from cpctl.sandbox.runtime import Sandbox

    dirs = _function_dirs()
    samples: dict[str, Any] = {}
    with Sandbox() as sandbox:
        platform_deploy_support.set_changes(
            [{"address": "aws_security_group.database", "type": "aws_security_group", "actions": ["update"]}]
        )
        request = json.loads((REPO_ROOT / PLATFORM_REQUEST).read_text())
        arn = sandbox.start_execution("PlatformDeployStateMachine", request, name=PLATFORM_EXECUTION)
        deadline = time.monotonic() + 60
        token = None
        while token is None and time.monotonic() < deadline:
            for note in sandbox.notifications():
                if "approval needed" in note["Subject"]:
                    token = approvals.token_from_notification(note["Message"])
            time.sleep(0.02)
        if token is None:
            raise RuntimeError("the sample deploy asked for no approval")
        approvals.approve(token, "sample@example.com", "sample", client=sandbox.client("stepfunctions"))
        report = sandbox.wait(arn)
        if report.outcome != "Succeeded":
            raise RuntimeError(f"the sample deploy ended {report.outcome}: {report.reason}")
        for invocation in REGISTRY.invocations:
            event = invocation["event"]
            if invocation["execution"] != PLATFORM_EXECUTION or not isinstance(event, dict):
                continue
            name = f"{event['task']}_{event['build']}" if "build" in event else str(event["task"])
            samples.setdefault(f"{dirs[invocation['function']]}/{name}.json", event)
    return samples


ROTATION_EXECUTION = "sample-rotation"
ROTATION_REQUEST = "events/rotation/rotate_app_user.json"


def capture_rotation() -> dict[str, Any]:
    """The Rotation workflow's task events and the four steps Secrets Manager sends the rotation function,
    from a rotation of the application user on private real servers (nothing secret is in them)."""
    from cpctl.sandbox import rotation_support
    from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY
    from cpctl.sandbox.runtime import Sandbox

    dirs = _function_dirs()
    samples: dict[str, Any] = {}
    with rotation_support.real_servers() as servers:
        if servers is None:
            raise RuntimeError("the rotation samples need PostgreSQL and Redis binaries")
        with Sandbox(real_servers=servers) as sandbox:
            request = json.loads((REPO_ROOT / ROTATION_REQUEST).read_text())
            report = sandbox.run("RotationStateMachine", request, name=ROTATION_EXECUTION)
            if report.outcome != "Succeeded":
                raise RuntimeError(f"the sample rotation ended {report.outcome}: {report.reason}")
            for invocation in REGISTRY.invocations:
                event = invocation["event"]
                if not isinstance(event, dict):
                    continue
                if "Step" in event:
                    samples.setdefault(f"{dirs[invocation['function']]}/{event['Step']}.json", event)
                elif event.get("execution") == ROTATION_EXECUTION:
                    samples.setdefault(f"{dirs[invocation['function']]}/{event.get('task')}.json", event)
    check = samples.get("check_rotation/check.json")
    if check is not None:
        samples["check_rotation/observe.json"] = {**check, "task": "observe"}
    return samples


def write(samples: dict[str, Any], root: Path = REPO_ROOT / "events") -> list[Path]:
    written = []
    for relative, event in sorted(samples.items()):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(event, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def main() -> int:
    for path in write({**capture(), **capture_platform_deploy(), **capture_rotation()}):
        print(path.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
