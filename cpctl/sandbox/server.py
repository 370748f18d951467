"""``cpctl sandbox up``: the sandbox served over HTTP, for clients nobody here wrote.

The served sandbox is the in-process one (``runtime.Sandbox``: moto patched, ``template.yaml``
deployed, the platform seeded, waits instant) with moto's HTTP front end on top, in the same
process. moto keeps its backends in process-wide dictionaries, so a request that arrives over
HTTP (AWS CLI, boto3 elsewhere, a container under ``sam local invoke``) reads and changes the very
backends the Sandbox deployed into. An execution started over HTTP runs on moto's thread like any
other; its Lambda tasks call boto3 in this process, where ``mock_aws`` is active, so they reach the
Lambda bridge and run the real handlers, exactly as in the demo.

The WSGI app answers ``/_sandbox/...`` itself (the fault and hold knobs, ``control.py``) and hands
everything else to moto's ``DomainDispatcherApplication``, which routes by the request's signature
(service and region in the credential scope), as moto's own ``ThreadedMotoServer`` does.
"""

from __future__ import annotations

import errno
import json
import signal
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TextIO

from cpctl.sandbox import control
from cpctl.sandbox.control import ANY_ADDRESS
from cpctl.sandbox.runtime import Sandbox


class _ControlApp:
    """WSGI: ``/_sandbox`` is answered here, every other path by moto."""

    def __init__(self, moto_app: Any, server: SandboxServer) -> None:
        self._moto = moto_app
        self._server = server

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path != control.CONTROL_PREFIX and not path.startswith(control.CONTROL_PREFIX + "/"):
            return self._moto(environ, start_response)  # type: ignore[no-any-return]
        import json

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        status, payload = control.handle(
            self._server.state, str(environ.get("REQUEST_METHOD", "GET")), path, body, self._server.describe
        )
        data = json.dumps(payload, indent=2, default=str).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
        start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


@dataclass
class SandboxServer:
    """The sandbox plus moto's HTTP front end on a thread. ``start()`` / ``stop()``, or ``with``."""

    host: str = "127.0.0.1"
    port: int = 4566
    environment: str = "dev"
    log_requests: bool = False
    sandbox: Sandbox = field(init=False)
    _http: Any = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.sandbox = Sandbox(environment=self.environment)

    @property
    def state(self) -> Any:
        return self.sandbox.state

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        quiet = not self.log_requests

        class RequestHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                if not quiet:
                    super().log_request(code, size)

        # Bind first: a taken port is reported before the (slower) deployment starts.
        app = _ControlApp(DomainDispatcherApplication(create_backend_app), self)
        try:
            self._http = make_server(self.host, self.port, app, threaded=True, request_handler=RequestHandler)
        except SystemExit:  # werkzeug reports a taken port on stderr and exits; say it as an OSError
            raise OSError(errno.EADDRINUSE, f"port {self.port} is in use") from None
        try:
            self.sandbox.start()
        except BaseException:
            self._http.server_close()
            self._http = None
            raise
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, name="sandbox-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.sandbox.stop()

    @property
    def endpoint(self) -> str:
        """The URL a client on this machine uses (a wildcard bind is reached on loopback)."""
        host = "127.0.0.1" if self.host in ANY_ADDRESS else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def describe(self) -> dict[str, Any]:
        """What is deployed, by name and ARN: what a client needs to drive the control plane."""
        sandbox = self.sandbox
        functions = sandbox.deployed("AWS::Serverless::Function")
        return {
            "endpoint": self.endpoint,
            "bound_to": f"{self.host}:{self.port}",
            "region": sandbox.region,
            "environment": sandbox.environment,
            "stack_name": f"sip-controlplane-{sandbox.environment}",
            "state_machines": {lid: r["Arn"] for lid, r in sandbox.deployed("AWS::Serverless::StateMachine").items()},
            "functions": {lid: r["Ref"] for lid, r in functions.items()},
            "state_table": sandbox.resources["StateTable"]["Ref"],
            "notify_topic": sandbox.resources["NotifyTopic"]["Ref"],
            "cluster": str(sandbox.tfvars["eks_cluster_name"]),
            "nodegroups": sorted(sandbox.tfvars["eks_node_groups"]),
        }


def summary_lines(described: dict[str, Any]) -> list[str]:
    """What ``cpctl sandbox up`` prints: where it is, what is deployed, and a command to try."""
    endpoint = described["endpoint"]
    machines = described["state_machines"]
    width = max((len(lid) for lid in machines), default=0)
    lines = [
        f"Sandbox ({described['environment']}) serving the emulated AWS at {endpoint}",
        f"  bound to          {described['bound_to']}, region {described['region']}",
        f"  cluster           {described['cluster']} (node groups {', '.join(described['nodegroups'])})",
        "  state machines    " + f"\n{' ' * 20}".join(f"{lid:<{width}}  {arn}" for lid, arn in machines.items()),
        f"  state table       {described['state_table']}",
        f"  notify topic      {described['notify_topic']}",
        f"  functions         {len(described['functions'])} (GET {endpoint}{control.CONTROL_PREFIX} lists them)",
        f"  faults and holds  cpctl sandbox fault --help  ({endpoint}{control.CONTROL_PREFIX}/state)",
        "",
        "Try (any credentials work):",
        f"  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
        f" AWS_DEFAULT_REGION={described['region']}",
    ]
    scale = machines.get("ScaleStateMachine")
    if scale:
        execution = scale.replace(":stateMachine:", ":execution:") + ":try-1"
        lines += [
            f"  aws stepfunctions start-execution --state-machine-arn {scale} --name try-1 \\",
            "      --input file://events/scale/nodegroup_scale_up.json",
            f"  aws stepfunctions describe-execution --execution-arn {execution}",
            f"  aws eks describe-nodegroup --cluster-name {described['cluster']} --nodegroup-name general",
            f"  aws dynamodb scan --table-name {described['state_table']}",
            "  cpctl run scale --input events/scale/nodegroup_scale_up.json --wait   # or: cpctl executions,"
            " cpctl history NAME, cpctl audit --since 1h",
        ]
    lines += ["", "Ctrl-C (or SIGTERM) stops it."]
    return lines


def report_invocations(out: TextIO) -> int:
    """Print one line per Lambda invocation since the last call, and forget them (a served sandbox runs for
    hours: the bridge's record of invocations and the handlers' captured output must not grow without end)."""
    from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY

    done = len(REGISTRY.invocations)
    for invocation in REGISTRY.invocations[:done]:
        error = invocation.get("error") or {}
        result = f"{error.get('errorType')}: {str(error.get('errorMessage', ''))[:160]}" if error else "ok"
        out.write(f"lambda  {invocation['function']:<28} {invocation.get('execution') or '-':<32} {result}\n")
    del REGISTRY.invocations[:done]
    REGISTRY.output.seek(0)
    REGISTRY.output.truncate()
    if done:
        out.flush()
    return done


def serve(
    host: str = "127.0.0.1",
    port: int = 4566,
    environment: str = "dev",
    log_requests: bool = False,
    quiet: bool = False,
    out: TextIO = sys.stdout,
    as_json: bool = False,
) -> int:
    """Run ``cpctl sandbox up`` until Ctrl-C or SIGTERM; 0 on a clean stop.

    With ``as_json`` the first line on ``out`` is what is deployed, as one JSON object (the same as
    ``GET /_sandbox``), for a script to read the endpoint from; what follows goes to stderr."""
    log = sys.stderr if as_json else out
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = SandboxServer(host=host, port=port, environment=environment, log_requests=log_requests)
    try:
        try:
            server.start()
        except OSError as exc:
            message = f"cannot serve on {host}:{port}: {exc.strerror or exc}"
            out.write(json.dumps({"error": "CannotServe", "message": message}) + "\n" if as_json else message + "\n")
            return 1
        try:
            described = server.describe()
            out.write(json.dumps(described) + "\n" if as_json else "\n".join(summary_lines(described)) + "\n")
            out.flush()
            while not stopping.wait(0.5):
                if not quiet:
                    report_invocations(log)
        finally:
            server.stop()
        log.write("sandbox stopped\n")
        log.flush()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
