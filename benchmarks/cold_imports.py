"""Cold starts: the import time of every handler next to a bare boto3 handler, and the cold starts on
the way from an alarm (or a person) to the mutating call.

Import figures are the minimum and the median of several fresh interpreters (what a Lambda cold start's
init phase pays), with the environment the template gives every function. Two columns per handler:

- ``import``: ``import app`` alone, the init phase (the goal: at most 1.2x the bare handler);
- ``+ first call``: ``import app`` plus boto3 and one client, which the handler's first invocation
  loads lazily (``controlplane.aws``): the honest total a cold start pays before its first AWS call.

The bare handler imports boto3 and makes one client. Printed, not asserted: the machine's speed varies.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LAYER = REPO / "layers" / "common" / "python"
RUNS = int(os.environ.get("BENCH_IMPORT_RUNS", "7"))

MEASURE = """
import sys, time
sys.path[:0] = [{layer!r}, {code!r}]
start = time.perf_counter()
{body}
print(time.perf_counter() - start)
"""
BARE = "import boto3\nboto3.client('dynamodb', region_name='us-east-1')"
FIRST_CALL = "import app\nimport boto3\nboto3.client('dynamodb', region_name='us-east-1')"


def _template() -> dict[str, Any]:
    sys.path[:0] = [str(REPO)]
    from cpctl.sandbox.template import load_template

    return load_template(REPO / "template.yaml")


def _function_environment(template: dict[str, Any]) -> dict[str, str]:
    """The plain string variables of the template's Globals (Refs left out)."""
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    return {k: str(v) for k, v in variables.items() if isinstance(v, (str, int))}


def _time(code_dir: Path, body: str, env: dict[str, str]) -> tuple[float, float]:
    script = MEASURE.format(layer=str(LAYER), code=str(code_dir), body=body)
    samples = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return min(samples), statistics.median(samples)


def _next_states(state: dict[str, Any]) -> list[str]:
    if state["Type"] == "Choice":
        return [c["Next"] for c in state["Choices"]] + ([state["Default"]] if "Default" in state else [])
    return [state["Next"]] if "Next" in state else []


def _lambda_functions_until(definition: dict[str, Any], target: str) -> list[str]:
    """Lambda functions (``${XFunctionArn}``) on the shortest path from StartAt to ``target``."""
    states = definition["States"]
    paths = {definition["StartAt"]: [definition["StartAt"]]}
    queue = [definition["StartAt"]]
    while queue:
        name = queue.pop(0)
        if name == target:
            break
        for following in _next_states(states[name]):
            if following not in paths:
                paths[following] = [*paths[name], following]
                queue.append(following)
    functions = []
    for name in paths[target]:
        resource = str(states[name].get("Resource", ""))
        if resource.startswith("${") and resource.endswith("FunctionArn}"):
            functions.append(resource[2:-4])
    return functions


def cold_starts_per_path() -> dict[str, list[str]]:
    """Distinct functions (each a cold start when idle) on the way to the first mutating call."""
    scale = json.loads((REPO / "statemachines" / "scale.asl.json").read_text())
    remediation = json.loads((REPO / "statemachines" / "remediation.asl.json").read_text())
    to_apply = _lambda_functions_until(scale, "Apply")
    before_scale = _lambda_functions_until(remediation, "StartScale")
    return {
        "alarm -> Remediation -> Scale Apply": list(dict.fromkeys(["HandleAlarmFunction", *before_scale, *to_apply])),
        "person (cpctl) -> Scale Apply": list(dict.fromkeys(to_apply)),
    }


def main() -> None:
    template = _template()
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", **_function_environment(template)}
    print(f"Cold import: min / median of {RUNS} fresh interpreters ({sys.version.split()[0]}), template environment")
    bare_min, bare_median = _time(REPO, BARE, env)
    print(f"  {'bare: import boto3 + one client':<24} {bare_min * 1000:7.1f} / {bare_median * 1000:7.1f} ms")
    print(f"  {'handler':<24} {'import (ratio)':>26}   {'+ first call (ratio)':>28}")
    for app in sorted((REPO / "functions").glob("*/app.py")):
        imported, _ = _time(app.parent, "import app", env)
        first, _ = _time(app.parent, FIRST_CALL, env)
        print(
            f"  {app.parent.name:<24} {imported * 1000:9.1f} ms ({imported / bare_min:4.2f}x)"
            f"   {first * 1000:12.1f} ms ({first / bare_min:4.2f}x)"
        )
    print("Cold starts on the way to the mutating call (distinct functions):")
    for path, functions in cold_starts_per_path().items():
        print(f"  {path:<40} {len(functions)}: {', '.join(functions)}")


if __name__ == "__main__":
    main()
