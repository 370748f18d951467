"""``sam local invoke`` of the Scale workflow's Plan, AcquireLease and Apply steps, in containers, against a
served sandbox.

Not skipped anywhere: ``scripts/local-invoke-setup.sh`` installs Docker and builds the stand-in Lambda
base image if they are missing, and if Docker cannot start on the machine the test fails with the reason.
The functions are looked up from the template (the Scale state machine's tasks by state name), and
their sample events from ``events/<function folder>/``.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.sandbox.served import ServedSandbox, served_sandbox

pytestmark = pytest.mark.sandbox
SETUP = REPO / "scripts" / "local-invoke-setup.sh"


def _step_function(state: str) -> tuple[str, Path]:
    """The logical id of the function behind ``state`` of the Scale workflow, and its sample event.

    Sample events live in ``events/<function folder>/``: ``<task>.json`` for a function that serves
    several steps (the state passes ``"task"``), else the folder's one ``nodegroup.json``.
    """
    import json as json_

    from cpctl.sandbox.template import load_template, task_functions

    template = load_template(REPO / "template.yaml")
    logical_id = task_functions(template, "ScaleStateMachine", REPO)[state]
    code_dir = Path(str(template["Resources"][logical_id]["Properties"]["CodeUri"])).name
    definition = template["Resources"]["ScaleStateMachine"]["Properties"]["DefinitionUri"]
    asl = json_.loads((REPO / str(definition)).read_text())
    task = asl["States"][state].get("Parameters", {}).get("task")
    event = REPO / "events" / code_dir / (f"{task}.json" if task else "nodegroup.json")
    assert event.is_file(), f"no sample event for the {state} step: {event}"
    return logical_id, event


@pytest.fixture(scope="module")
def docker_ready() -> str:
    started = time.monotonic()
    done = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, f"local-invoke set-up failed:\n{done.stdout}\n{done.stderr}"
    print(f"\nlocal-invoke set-up: {time.monotonic() - started:.0f} s\n{done.stdout}")
    return done.stdout


@pytest.fixture(scope="module")
def served(docker_ready: str) -> Iterator[ServedSandbox]:
    with served_sandbox("--host", "0.0.0.0") as running:
        yield running


def _invoke(served: ServedSandbox, function: str, event: Path) -> Any:
    from cpctl.sandbox.local_invoke import invoke

    started = time.monotonic()
    result = invoke(function, event, served.endpoint)
    print(f"sam local invoke {function}: {time.monotonic() - started:.1f} s")
    assert result.ok, f"{function} failed in its container: {result.payload}\n{result.logs[-3000:]}"
    # SAM read the account from the sandbox's STS (without it: ~7 s of retries to AWS, then a default).
    assert "No current session found" not in result.logs, result.logs[-3000:]
    return result.payload


def _set_desired(served: ServedSandbox, size: int) -> None:
    eks = served.client("eks")
    eks.update_nodegroup_config(clusterName="sip-dev", nodegroupName="general", scalingConfig={"desiredSize": size})
    assert (
        eks.describe_nodegroup(clusterName="sip-dev", nodegroupName="general")["nodegroup"]["scalingConfig"][
            "desiredSize"
        ]
        == size
    )


def test_plan_and_apply_in_containers_change_the_served_sandbox(served: ServedSandbox) -> None:
    """Plan reads the served sandbox; the lease is taken there; Apply changes the node group there."""
    plan_function, plan_event = _step_function("Plan")
    lock_function, lock_event = _step_function("AcquireLease")
    apply_function, apply_event = _step_function("Apply")
    apply_state = json.loads(apply_event.read_text())["state"]
    assert apply_state["request"]["resource"] == {"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "general"}

    # Plan reads the served sandbox: set a size there that no sample carries, and the plan must see it.
    _set_desired(served, 4)
    planned = _invoke(served, plan_function, plan_event)
    assert (planned["plan"]["current"], planned["plan"]["desired"]) == (4, 5), planned["plan"]

    # Back to the size the samples were planned at; the lease is taken in the sandbox's table, as the
    # execution the samples name, since Apply renews it in the same transaction as its intent.
    _set_desired(served, apply_state["plan"]["current"])
    lease = _invoke(served, lock_function, lock_event)
    assert lease["owner"].endswith(apply_state["request"]["execution"]), lease

    applied = _invoke(served, apply_function, apply_event)
    assert applied["already_applied"] is False, applied
    nodegroup = served.client("eks").describe_nodegroup(clusterName="sip-dev", nodegroupName="general")["nodegroup"]
    assert nodegroup["scalingConfig"]["desiredSize"] == apply_state["plan"]["desired"] == 5

    # ... and recorded it in the sandbox's state table, as the execution named in the sample.
    with urllib.request.urlopen(f"{served.endpoint}/_sandbox", timeout=10) as response:
        table = json.loads(response.read())["state_table"]
    items = served.client("dynamodb").scan(TableName=table)["Items"]
    marks = [item for item in items if item["pk"]["S"].startswith("CHANGE#") and "sip-dev/general" in item["pk"]["S"]]
    assert [(m["execution"]["S"], m["status"]["S"]) for m in marks] == [
        (apply_state["request"]["execution"], "applied")
    ], items
