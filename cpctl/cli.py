"""cpctl: the operator CLI of the control plane.

Drive a served sandbox (cpctl sandbox up; --endpoint-url or AWS_ENDPOINT_URL) or a deployed stack
(--environment ENV for sip-controlplane-ENV, or --stack-name): start workflows and follow them, list
executions, read an execution's history and the audit log, answer approvals, draw a workflow. Every
command that reads or starts something takes --json for scripts.
"""

from __future__ import annotations

import functools
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click

from cpctl.ops.errors import CpctlError, Exit

EXIT_CODES = """\b
Exit codes:
  0  done; the execution SUCCEEDED with outcome Succeeded, NoChange or DryRun
  1  the execution FAILED, TIMED_OUT or ABORTED (or its outcome is Failed/TimedOut/Rejected)
  2  bad usage or input
  3  not found: workflow, execution, stack, task token
  4  AWS or the sandbox could not be reached (endpoint, credentials, region)
  5  AWS refused the call
  6  Blocked: a guard refused the change, nothing changed
  7  still running when --timeout ran out
\b
Shell completion: eval "$(cpctl completion bash)"   (or zsh, fish)"""


def _workflow_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Completion of WORKFLOW from the template (no AWS call)."""
    from cpctl.ops.workflows import template_state_machines

    try:
        names = [w.name for w in template_state_machines().values()]
    except Exception:
        return []
    return [name for name in names if name.startswith(incomplete)]


def target_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--endpoint-url / --stack-name / --environment / --region, turned into a ``target`` argument."""

    @click.option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="a served sandbox (default $AWS_ENDPOINT_URL)")
    @click.option("--stack-name", help="a deployed control plane stack (its outputs name the workflows)")
    @click.option(
        "-e", "--environment", envvar="CPCTL_ENVIRONMENT", help="dev, staging, prod -> sip-controlplane-<env>"
    )
    @click.option("--region", help="AWS region (default $AWS_REGION; a sandbox says its own)")
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        endpoint_url: str | None,
        stack_name: str | None,
        environment: str | None,
        region: str | None,
        **kwargs: Any,
    ) -> Any:
        from cpctl.ops.target import Target

        target = Target.from_options(endpoint_url, stack_name, environment, region)
        return command(*args, target=target, **kwargs)

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON (for scripts) instead of tables")


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=EXIT_CODES,
    help=__doc__,
)
def cli() -> None:
    pass


# --- workflows ------------------------------------------------------------------------------------


def _read_input(text: str) -> Any:
    """--input: JSON text, a file (``path``, ``file://path``) or ``-`` for stdin."""
    if text == "-":
        text = sys.stdin.read()
    else:
        path = Path(text.removeprefix("file://"))
        if not text.lstrip().startswith(("{", "[")) and path.is_file():
            text = path.read_text()
        elif text.startswith("file://"):
            raise CpctlError(f"no file {path}", Exit.USAGE, "give a readable file or JSON text")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CpctlError(
            f"--input is neither a readable file nor JSON ({exc})", Exit.USAGE, "e.g. --input events/scale/x.json"
        ) from None


def _start_and_report(
    target: Any, workflow: str, payload: Any, name: str | None, wait: bool, timeout: float, poll: float, as_json: bool
) -> int:
    from cpctl.ops import executions, render

    wf, arn = executions.start(target, workflow, payload, name)
    if not wait:
        from controlplane.console import execution_url

        started = {"workflow": wf, "executionArn": arn, "status": "RUNNING", "consoleUrl": execution_url(arn)}
        if as_json:
            render.emit_json(started)
        else:
            render.console().print(f"started {wf} {arn}\n  follow: cpctl history {arn}")
        return int(Exit.OK)
    progress = render.console(stderr=True)
    if as_json:
        view = executions.follow(target, arn, lambda run: None, timeout, poll)
    elif progress.is_terminal:
        with progress.status(f"{wf}: starting", spinner="dots") as status:

            def entered(run: executions.StateRun) -> None:
                progress.print(f"  → {run.name} [dim]({run.type})[/]")
                status.update(f"{wf}: [bold]{run.name}[/]")

            view = executions.follow(target, arn, entered, timeout, poll)
    else:
        progress.print(f"started {wf} {arn}")
        view = executions.follow(
            target, arn, lambda run: progress.print(f"state {run.name} ({run.type})"), timeout, poll
        )
    data = view.as_json()
    if as_json:
        render.emit_json(data)
    else:
        render.execution_result(data)
        if view.exit_code == Exit.STILL_RUNNING:
            render.console(stderr=True).print(f"still running after {timeout:.0f}s; follow: cpctl history {arn}")
    return int(view.exit_code)


@cli.command()
@click.argument("workflow", shell_complete=_workflow_names)
@click.option("-i", "--input", "input_", required=True, help="JSON text, a file (path or file://path), or - for stdin")
@click.option("--dry-run", is_flag=True, help="set dry_run: plan and guard, change nothing")
@click.option("--wait/--no-wait", default=False, help="follow the execution to its end (progress on stderr)")
@click.option("--name", help="execution name (default cpctl-<workflow>-<time>-<random>)")
@click.option("--timeout", type=float, default=900, show_default=True, help="seconds to follow with --wait")
@click.option("--poll", type=float, default=1.0, show_default=True, help="seconds between polls with --wait")
@target_options
@json_option
def run(
    workflow: str,
    input_: str,
    dry_run: bool,
    wait: bool,
    name: str | None,
    timeout: float,
    poll: float,
    as_json: bool,
    target: Any,
) -> int:
    """Start WORKFLOW (scale, remediation, or any other state machine deployed) with an input."""
    payload = _read_input(input_)
    if dry_run:
        if not isinstance(payload, dict):
            raise CpctlError("--dry-run needs a JSON object input", Exit.USAGE, "")
        payload["dry_run"] = True
    return _start_and_report(target, workflow, payload, name, wait, timeout, poll, as_json)


@cli.command()
@click.option("--state-machine-arn", help="the Scale state machine (default: found from the target)")
@click.option(
    "--resource", required=True, help='JSON, e.g. {"kind":"nodegroup","cluster":"sip-prod","nodegroup":"general"}'
)
@click.option("--desired", type=int)
@click.option("--delta", type=int)
@click.option("--reason", required=True)
@click.option("--requester", required=True, help="who asks (recorded in audit)")
@click.option("--dry-run", is_flag=True)
@click.option("--wait/--no-wait", default=False, help="follow the execution to its end")
@click.option("--timeout", type=float, default=900, show_default=True)
@target_options
@json_option
def scale(
    state_machine_arn: str | None,
    resource: str,
    desired: int | None,
    delta: int | None,
    reason: str,
    requester: str,
    dry_run: bool,
    wait: bool,
    timeout: float,
    as_json: bool,
    target: Any,
) -> int:
    """Start a Scale execution (the same input the sandbox and events/scale/ take)."""
    if (desired is None) == (delta is None):
        raise CpctlError("give exactly one of --desired or --delta", Exit.USAGE, "")
    try:
        parsed = json.loads(resource)
    except ValueError as exc:
        raise CpctlError(f"--resource is not JSON ({exc})", Exit.USAGE, "") from None
    size = {"desired": desired} if desired is not None else {"delta": delta}
    request = _person_request(reason, requester, dry_run, resource=parsed, **size)
    return _start_and_report(target, state_machine_arn or "scale", request, None, wait, timeout, 1.0, as_json)


def _person_request(reason: str, requester: str, dry_run: bool, **fields: Any) -> dict[str, Any]:
    """A workflow request made by a person at the command line (audit records who and why)."""
    return {"reason": reason, "requester": {"type": "person", "id": requester}, "dry_run": dry_run, **fields}


@cli.command()
@click.option("--state-machine-arn", help="the Rotation state machine (default: found from the target)")
@click.option("--secret", help="a secret of the rotation policy, e.g. sip/prod/postgres/app")
@click.option("--all-due", is_flag=True, help="every secret that is due (what the schedule runs)")
@click.option("--reason", required=True)
@click.option("--requester", required=True, help="who asks (recorded in audit)")
@click.option("--dry-run", is_flag=True)
@click.option("--wait/--no-wait", default=False, help="follow the execution to its end")
@click.option("--timeout", type=float, default=900, show_default=True)
@target_options
@json_option
def rotate(
    state_machine_arn: str | None,
    secret: str | None,
    all_due: bool,
    reason: str,
    requester: str,
    dry_run: bool,
    wait: bool,
    timeout: float,
    as_json: bool,
    target: Any,
) -> int:
    """Start a Rotation execution (docs/rotation.md): one secret, or every secret that is due."""
    import uuid

    if (secret is None) == (not all_due):
        raise CpctlError("give exactly one of --secret or --all-due", Exit.USAGE, "")
    request = _person_request(reason, requester, dry_run, **({"secret": secret} if secret else {"all_due": True}))
    # The lease owner and the audit key name the execution: rotate-<random>, as the schedule's are.
    name = f"rotate-{uuid.uuid4().hex[:16]}"
    return _start_and_report(target, state_machine_arn or "rotation", request, name, wait, timeout, 1.0, as_json)


@cli.command(name="executions")
@click.argument("workflow", required=False, shell_complete=_workflow_names)
@click.option(
    "--status", type=click.Choice(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"], case_sensitive=False)
)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@target_options
@json_option
def executions_command(workflow: str | None, status: str | None, limit: int, as_json: bool, target: Any) -> int:
    """List the newest executions of WORKFLOW (or of every workflow)."""
    from cpctl.ops import executions, render

    rows = executions.list_executions(target, workflow, status.upper() if status else None, limit)
    render.emit_json(rows) if as_json else render.executions_table(rows)
    return int(Exit.OK)


@cli.command()
@click.argument("execution")
@target_options
@json_option
def history(execution: str, as_json: bool, target: Any) -> int:
    """The states of EXECUTION (an ARN or a name): when each was entered, how long it took, its error."""
    from cpctl.ops import executions, render

    view = executions.view(target, target.execution_arn(execution))
    data = view.as_json()
    render.emit_json(data) if as_json else render.history_table(data)
    return int(Exit.OK)


def _token(token: str) -> str:
    return sys.stdin.read().strip() if token == "-" else token


def _answer(
    target: Any, token: str, verdict: Literal["approve", "reject"], by: str, comment: str, as_json: bool
) -> int:
    """Send an approver's answer to a waiting step and say what was sent."""
    from cpctl.ops import executions, render

    answer = executions.send_approval(target, _token(token), verdict, by, comment)
    if as_json:
        render.emit_json(answer)
    else:
        render.console().print(f"{'approved' if verdict == 'approve' else 'rejected'} by {by}")
    return int(Exit.OK)


@cli.command()
@click.argument("token")
@click.option("--by", default=getpass.getuser, show_default="your user name", help="who approves (recorded)")
@click.option("--comment", default="", help="why")
@target_options
@json_option
def approve(token: str, by: str, comment: str, as_json: bool, target: Any) -> int:
    """Approve a waiting step (SendTaskSuccess with {"approved": true, "by", "comment"}). TOKEN or - for stdin."""
    return _answer(target, token, "approve", by, comment, as_json)


@cli.command()
@click.argument("token")
@click.option("--by", default=getpass.getuser, show_default="your user name", help="who rejects (recorded)")
@click.option("--comment", default="", help="why (sent as the failure's cause)")
@target_options
@json_option
def reject(token: str, by: str, comment: str, as_json: bool, target: Any) -> int:
    """Reject a waiting step (SendTaskFailure, error ApprovalRejected, the comment as cause)."""
    return _answer(target, token, "reject", by, comment, as_json)


@cli.command()
@click.argument("token")
@target_options
@json_option
def heartbeat(token: str, as_json: bool, target: Any) -> int:
    """Still reviewing: restart an approval's heartbeat clock (SendTaskHeartbeat; not its overall timeout)."""
    from cpctl.ops import executions, render

    answer = executions.send_approval(target, _token(token), "heartbeat", "", "")
    if as_json:
        render.emit_json(answer)
    else:
        render.console().print("heartbeat sent")
    return int(Exit.OK)


@cli.command()
@click.argument("resource", required=False)
@click.option("--since", help="30m, 24h, 7d, or an ISO time (UTC)")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@target_options
@json_option
def audit(resource: str | None, since: str | None, limit: int, as_json: bool, target: Any) -> int:
    """Audit items from the state table, newest first. RESOURCE: a key (nodegroup#sip-dev/general) or part of one."""
    from cpctl.ops import audit_log, render

    rows = audit_log.query(target, resource, audit_log.parse_since(since), limit)
    render.emit_json(rows) if as_json else render.audit_table(rows)
    return int(Exit.OK)


def _shown(path: Path) -> str:
    from cpctl import REPO_ROOT

    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


@cli.command()
@click.argument("workflow", required=False, shell_complete=_workflow_names)
@click.option("--update-docs", is_flag=True, help="rewrite the diagram in every workflow's runbook (docs/)")
@click.option("--check", is_flag=True, help="exit 1 when a runbook's diagram is stale (changes nothing)")
@json_option
def diagram(workflow: str | None, update_docs: bool, check: bool, as_json: bool) -> int:
    """A Mermaid flowchart of WORKFLOW generated from its ASL (Parallel/Map branches, Catch edges dotted)."""
    from cpctl.ops import diagram as diagrams
    from cpctl.ops import render
    from cpctl.ops.workflows import resolve, template_state_machines

    machines = template_state_machines()
    if update_docs or check:
        found = diagrams.stale_docs() if check else diagrams.update_docs()
        report = [{"logical_id": lid, "doc": _shown(path), "state": state} for lid, path, state in found]
        if as_json:
            render.emit_json(report)
        for row in [] if as_json else report:
            render.console().print(f"{row['state']:<8} {row['logical_id']}  {row['doc']}")
        return int(Exit.FAILED if check and any(r["state"] != "fresh" for r in report) else Exit.OK)
    if not workflow:
        raise CpctlError("which workflow?", Exit.USAGE, "cpctl diagram scale, or --update-docs for every runbook")
    logical_id = resolve(workflow, list(machines))
    text = diagrams.diagram_of(machines[logical_id])
    if as_json:
        render.emit_json({"workflow": machines[logical_id].name, "logical_id": logical_id, "mermaid": text})
    else:
        sys.stdout.write(text)
    return int(Exit.OK)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> int:
    """Print the shell completion script: eval "$(cpctl completion bash)"."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None
    sys.stdout.write(completer(cli, {}, "cpctl", "_CPCTL_COMPLETE").source() + "\n")
    return int(Exit.OK)


# --- the sandbox ----------------------------------------------------------------------------------


@cli.group()
def sandbox() -> None:
    """The emulated AWS: the demo, serving it, its faults and holds."""


@sandbox.command()
@click.option("--environment", default="dev", type=click.Choice(["dev", "prod"]), show_default=True)
@click.option("--verbose", is_flag=True, help="list the AWS calls of every execution")
@click.option("--json", "as_json", is_flag=True, help="one JSON document at the end (the tables go to stderr)")
def demo(environment: str, verbose: bool, as_json: bool) -> int:
    """Run every workflow scenario and print what each execution did."""
    from cpctl.sandbox.demo import run_demo

    return run_demo(environment=environment, verbose=verbose, as_json=as_json)


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="bind address; 0.0.0.0 for containers")
@click.option("--port", type=int, default=4566, show_default=True, help="0 picks a free port (printed)")
@click.option("--environment", default="dev", type=click.Choice(["dev", "prod"]), show_default=True)
@click.option("--log-requests", is_flag=True, help="log every HTTP request to stderr")
@click.option("--quiet", is_flag=True, help="no line per Lambda invocation")
@click.option("--json", "as_json", is_flag=True, help="first line: what is deployed, as JSON (the rest on stderr)")
def up(host: str, port: int, environment: str, log_requests: bool, quiet: bool, as_json: bool) -> int:
    """Serve the sandbox over HTTP until Ctrl-C (an AWS endpoint)."""
    from cpctl.sandbox.server import serve

    return serve(host=host, port=port, environment=environment, log_requests=log_requests, quiet=quiet, as_json=as_json)


def _default_endpoint() -> str:
    from cpctl.sandbox.control import endpoint_from_environment

    return endpoint_from_environment()


@sandbox.group()
@click.option("--endpoint-url", default=_default_endpoint, help="the sandbox (default: $AWS_ENDPOINT_URL or :4566)")
@click.pass_context
def fault(ctx: click.Context, endpoint_url: str) -> None:
    """Hold resources and inject faults in a served sandbox."""
    ctx.obj = endpoint_url


def _fault(ctx: click.Context, action: str, as_json: bool = False, **options: Any) -> int:
    from cpctl.sandbox.control import run_fault_command

    return run_fault_command(ctx.obj, action, options, as_json=as_json)


@fault.command()
@click.option("--kind", required=True, help="eks, rds, elasticache")
@click.option("--resource-id", required=True, help="e.g. sip-dev/general (cluster/nodegroup), sip-dev-postgres-cp-1")
@click.option("--status", required=True, help="e.g. UPDATING, creating, deleting, modifying")
@click.option("--polls", type=int, required=True)
@json_option
@click.pass_context
def hold(ctx: click.Context, kind: str, resource_id: str, status: str, polls: int, as_json: bool) -> int:
    """Keep a resource in a transitional status for N polls after its next change."""
    return _fault(ctx, "hold", as_json, kind=kind, resource_id=resource_id, status=status, polls=polls)


def _fault_options(code_required: bool, default_code: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(
            [
                click.option("--service", required=True, help="as the AWS CLI names it: eks, rds, stepfunctions ..."),
                click.option("--operation", required=True, help="UpdateNodegroupConfig or update-nodegroup-config"),
                click.option("--code", required=code_required, default=default_code),
                click.option("--times", type=int, default=1),
                click.option("--message"),
                click.option("--http-status", type=int),
                json_option,
            ]
        ):
            command = option(command)
        return command

    return decorate


@fault.command()
@_fault_options(False, "ThrottlingException")
@click.pass_context
def throttle(ctx: click.Context, /, as_json: bool, **options: Any) -> int:
    """Answer the next N calls of an operation with a throttling error."""
    return _fault(ctx, "throttle", as_json, **options)


@fault.command(name="error")
@_fault_options(True, None)
@click.pass_context
def error_command(ctx: click.Context, /, as_json: bool, **options: Any) -> int:
    """Answer the next N calls of an operation with an AWS error code."""
    return _fault(ctx, "error", as_json, **options)


@fault.command(name="fail-build")
@click.option(
    "--status", default="FAILED", type=click.Choice(["FAILED", "FAULT", "TIMED_OUT", "STOPPED"]), show_default=True
)
@click.option("--times", type=int, default=1)
@click.option("--message")
@json_option
@click.pass_context
def fail_build(ctx: click.Context, status: str, times: int, message: str | None, as_json: bool) -> int:
    """End the next N CodeBuild builds with a failed status."""
    return _fault(ctx, "fail-build", as_json, status=status, times=times, message=message)


@fault.command(name="list")
@click.option("--calls", is_flag=True, help="also the calls the control plane made")
@json_option
@click.pass_context
def list_command(ctx: click.Context, calls: bool, as_json: bool) -> int:
    """Holds and faults armed now."""
    return _fault(ctx, "list", as_json, calls=calls)


@fault.command()
@json_option
@click.pass_context
def clear(ctx: click.Context, as_json: bool) -> int:
    """Drop every hold and fault."""
    return _fault(ctx, "clear", as_json)


# --- entry point ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """The ``cpctl`` console script: run a command, map its failure to a documented exit code."""
    from cpctl.ops import render
    from cpctl.ops.errors import from_aws

    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    try:
        result = cli.main(args=args, prog_name="cpctl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except click.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except CpctlError as exc:
        render.error(exc, as_json)
        return int(exc.exit_code)
    except Exception as exc:
        mapped = from_aws(exc)
        if mapped is None:
            raise
        render.error(mapped, as_json)
        return int(mapped.exit_code)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
