"""``make local-invoke FN=<LogicalId> EVENT=events/<dir>/<file>.json``: one function in a Lambda container.

``sam local invoke`` runs the function's real code in a container (RIE and the layer on the stand-in
base image that ``scripts/local-invoke-setup.sh`` builds), and the function's AWS calls go to a served
sandbox (``cpctl sandbox up --host 0.0.0.0``) through the Docker bridge gateway, so what it changed can
be read back with the AWS CLI. Steps, all here so the Makefile and the tests share them:

1. The layer, built by its own Makefile target (the one ``sam build`` runs for deploys) with x86_64
   wheels into ``.aws-sam-local/layer``; pip runs again only when ``requirements.txt`` changes.
2. A copy of ``template.yaml`` for this machine: x86_64 instead of arm64, the layer taken from step 1,
   the functions from their source folders (they have no dependencies of their own), and
   ``AWS_ENDPOINT_URL`` declared for every function (SAM's ``--env-vars`` only sets declared variables).
   ``template.yaml`` itself stays arm64 for deploys. (``sam build`` of the copy works too, but costs
   15-25 s per run even cached, for the same files.)
3. ``--env-vars`` from the served sandbox: each function's environment as the sandbox deployed it
   (``lambda get-function-configuration`` through the endpoint: the real table and topic names).
4. ``sam local invoke --skip-pull-image`` (no image registry is reachable here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpctl import REPO_ROOT
from cpctl.sandbox.control import ANY_ADDRESS, CONTROL_PREFIX, DEFAULT_ENDPOINT
from cpctl.sandbox.template import load_template

LOCAL_DIR = REPO_ROOT / ".aws-sam-local"
ARCHITECTURE = "x86_64"
LAYER_WHEEL_PLATFORM = "manylinux2014_x86_64"
REGION = "us-east-1"
CLIENT_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": ""}


class LocalInvokeError(RuntimeError):
    """The local invoke cannot run here (no Docker, no sandbox, a build that failed); says why."""


@dataclass(frozen=True)
class InvokeResult:
    function: str
    returncode: int
    payload: Any
    logs: str

    @property
    def ok(self) -> bool:
        """The handler returned (no ``errorType`` answer) and SAM exited 0."""
        return self.returncode == 0 and not (isinstance(self.payload, dict) and "errorType" in self.payload)


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _tool_env() -> dict[str, str]:
    """The venv first on PATH (sam build runs pip for python3.13 and make), client credentials, no endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({k: v for k, v in CLIENT_CREDENTIALS.items() if v})
    env.pop("AWS_SESSION_TOKEN", None)
    env.update({"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "SAM_CLI_TELEMETRY": "0"})
    return env


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: where a container reaches a server on this machine."""
    try:
        name = subprocess.run(
            [
                "docker",
                "network",
                "inspect",
                "bridge",
                "--format",
                '{{index .Options "com.docker.network.bridge.name"}}',
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise LocalInvokeError(f"Docker does not answer ({exc}): run scripts/local-invoke-setup.sh") from None
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", name or "docker0"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.split()
    addresses = [shown[i + 1].split("/")[0] for i, word in enumerate(shown[:-1]) if word == "inet"]
    if not addresses:
        raise LocalInvokeError(f"the Docker bridge {name or 'docker0'} has no IPv4 address")
    return addresses[0]


def describe_sandbox(endpoint: str) -> dict[str, Any]:
    """``GET /_sandbox`` of a served sandbox, or LocalInvokeError saying how to start one."""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}{CONTROL_PREFIX}", timeout=10) as response:
            return dict(json.loads(response.read()))
    except (urllib.error.URLError, OSError) as exc:
        raise LocalInvokeError(
            f"no sandbox answers at {endpoint} ({exc}); start one with `cpctl sandbox up --host 0.0.0.0`"
        ) from None


def container_endpoint(described: dict[str, Any], gateway: str) -> str:
    """The sandbox's URL as seen from a container, refusing a sandbox that containers cannot reach."""
    host, _, port = str(described["bound_to"]).rpartition(":")
    if host not in {*ANY_ADDRESS, gateway}:
        raise LocalInvokeError(
            f"the sandbox listens on {host} only, which containers cannot reach: "
            "restart it with `cpctl sandbox up --host 0.0.0.0`"
        )
    return f"http://{gateway}:{port}"


def build_layer() -> Path:
    """The Common layer with x86_64 wheels, by ``layers/common/Makefile``; returns its folder (``python/`` inside)."""
    import hashlib
    import shutil

    source = REPO_ROOT / "layers" / "common"
    target = LOCAL_DIR / "layer"
    wanted = hashlib.sha256(
        (source / "requirements.txt").read_bytes() + (source / "Makefile").read_bytes() + LAYER_WHEEL_PLATFORM.encode()
    ).hexdigest()
    stamp = target / ".requirements.sha256"
    if stamp.is_file() and stamp.read_text() == wanted:
        # Dependencies unchanged: refresh only the control plane's own code (what the Makefile copies).
        shutil.rmtree(target / "python" / "controlplane", ignore_errors=True)
        shutil.copytree(
            source / "python" / "controlplane",
            target / "python" / "controlplane",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    command = [
        "make", "--no-print-directory", "-C", str(source), "build-CommonLayer",
        f"ARTIFACTS_DIR={target}", f"LAYER_WHEEL_PLATFORM={LAYER_WHEEL_PLATFORM}", f"PYTHON={sys.executable}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=_tool_env(), timeout=600, check=False)
    if done.returncode != 0:
        raise LocalInvokeError(f"building the layer failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    stamp.write_text(wanted)
    return target


def local_template(endpoint_for_containers: str, layer_dir: Path) -> dict[str, Any]:
    """``template.yaml`` for a local run on this machine: x86_64, the built layer, the sandbox as endpoint."""
    template: dict[str, Any] = json.loads(json.dumps(load_template(REPO_ROOT / "template.yaml")))
    function_globals = template.setdefault("Globals", {}).setdefault("Function", {})
    function_globals["Architectures"] = [ARCHITECTURE]
    variables = function_globals.setdefault("Environment", {}).setdefault("Variables", {})
    variables["AWS_ENDPOINT_URL"] = endpoint_for_containers
    variables.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon beside the container
    for spec in template["Resources"].values():
        properties = spec.get("Properties", {})
        if spec["Type"] == "AWS::Serverless::Function":
            if "Architectures" in properties:
                properties["Architectures"] = [ARCHITECTURE]
            properties["CodeUri"] = str(REPO_ROOT / str(properties.get("CodeUri", function_globals.get("CodeUri"))))
        elif spec["Type"] == "AWS::Serverless::LayerVersion":
            properties["CompatibleArchitectures"] = [ARCHITECTURE]
            properties["ContentUri"] = str(layer_dir)
            spec.pop("Metadata", None)  # built already: SAM mounts the folder as it is
        elif spec["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in properties:
            properties["DefinitionUri"] = str(REPO_ROOT / str(properties["DefinitionUri"]))
    return template


def write_local_template(endpoint_for_containers: str) -> Path:
    """Build the layer and write the local template; returns the template's path."""
    LOCAL_DIR.mkdir(exist_ok=True)
    layer = build_layer()
    path = LOCAL_DIR / "template.json"
    path.write_text(json.dumps(local_template(endpoint_for_containers, layer), indent=1))
    return path


def environment_file(endpoint: str, described: dict[str, Any], endpoint_for_containers: str) -> Path:
    """``--env-vars``: every function's variables as the sandbox deployed them, read through its Lambda API."""
    import boto3

    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=str(described["region"])
    ).client("lambda", endpoint_url=endpoint)
    variables: dict[str, dict[str, str]] = {}
    for logical_id, name in described["functions"].items():
        configuration = client.get_function_configuration(FunctionName=name)
        variables[logical_id] = {
            **configuration.get("Environment", {}).get("Variables", {}),
            "AWS_ENDPOINT_URL": endpoint_for_containers,
        }
    path = LOCAL_DIR / "env-vars.json"
    path.write_text(json.dumps(variables, indent=1))
    return path


def invoke(function: str, event: Path, endpoint: str = DEFAULT_ENDPOINT) -> InvokeResult:
    """Build and run ``function`` once with ``event`` against the sandbox served at ``endpoint``."""
    described = describe_sandbox(endpoint)
    if function not in described["functions"]:
        raise LocalInvokeError(f"{function} is not a function of template.yaml: {sorted(described['functions'])}")
    if not event.is_file():
        raise LocalInvokeError(f"no event file {event}")
    inside = container_endpoint(described, bridge_gateway())
    template = write_local_template(inside)
    env_vars = environment_file(endpoint, described, inside)
    command = [
        _bin("sam"), "local", "invoke", function,
        "--template-file", str(template), "--event", str(event.resolve()), "--env-vars", str(env_vars),
        "--skip-pull-image", "--region", str(described["region"]),
    ]  # fmt: skip
    # SAM asks STS for the account (AWS::AccountId): the sandbox answers at once, where the public endpoint
    # would cost ~7 s of retries on a machine without internet before SAM falls back to a default.
    env = {**_tool_env(), "AWS_ENDPOINT_URL_STS": endpoint}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600, check=False)
    finally:
        # SAM builds a new image per invoke when the template has a layer and keeps the old ones.
        subprocess.run(["docker", "image", "prune", "-f"], capture_output=True, timeout=120, check=False)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        payload = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        payload = lines[-1]
    return InvokeResult(function=function, returncode=done.returncode, payload=payload, logs=done.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make local-invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--function", required=True, help="logical id in template.yaml, e.g. ScaleChangeFunction")
    parser.add_argument("--event", required=True, type=Path, help="e.g. events/change_scaling/plan.json")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT)
    args = parser.parse_args(argv)
    try:
        result = invoke(args.function, args.event, args.endpoint_url)
    except LocalInvokeError as exc:
        print(f"local-invoke: {exc}", file=sys.stderr)
        return 2
    sys.stderr.write(result.logs)
    print(json.dumps(result.payload, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
