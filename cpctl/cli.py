"""cpctl: the operator CLI. ``cpctl sandbox demo`` runs the workflows in the emulated AWS;
``cpctl sandbox up`` serves it to the AWS CLI, SDKs and ``sam local invoke``, and ``cpctl sandbox fault``
arms its holds and faults; ``cpctl scale`` starts a Scale execution in a real account (the same input the
sandbox takes)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _scale_request(args: argparse.Namespace) -> dict[str, Any]:
    request: dict[str, Any] = {
        "resource": json.loads(args.resource),
        "reason": args.reason,
        "requester": {"type": "person", "id": args.requester},
        "dry_run": args.dry_run,
    }
    if (args.desired is None) == (args.delta is None):
        raise SystemExit("give exactly one of --desired or --delta")
    request["desired" if args.desired is not None else "delta"] = (
        args.desired if args.desired is not None else args.delta
    )
    return request


def _rotation_request(args: argparse.Namespace) -> dict[str, Any]:
    if (args.secret is None) == (not args.all_due):
        raise SystemExit("give exactly one of --secret or --all-due")
    request: dict[str, Any] = {
        "reason": args.reason,
        "requester": {"type": "person", "id": args.requester},
        "dry_run": args.dry_run,
    }
    request.update({"secret": args.secret} if args.secret else {"all_due": True})
    return request


def _add_fault_commands(sandbox_commands: Any) -> None:
    from cpctl.sandbox.control import endpoint_from_environment

    fault = sandbox_commands.add_parser("fault", help="hold resources and inject faults in a served sandbox")
    fault.add_argument(
        "--endpoint-url", default=endpoint_from_environment(), help="the sandbox (default: $AWS_ENDPOINT_URL or :4566)"
    )
    actions = fault.add_subparsers(dest="fault_action", required=True)
    hold = actions.add_parser("hold", help="keep a resource in a transitional status for N polls after its next change")
    hold.add_argument("--kind", required=True, help="eks, rds, elasticache")
    hold.add_argument(
        "--resource-id", required=True, help="e.g. sip-dev/general (cluster/nodegroup), sip-dev-postgres-cp-1"
    )
    hold.add_argument("--status", required=True, help="e.g. UPDATING, creating, deleting, modifying")
    hold.add_argument("--polls", type=int, required=True)
    for name, help_text, code in (
        ("throttle", "answer the next N calls of an operation with a throttling error", "ThrottlingException"),
        ("error", "answer the next N calls of an operation with an AWS error code", None),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--service", required=True, help="as the AWS CLI names it: eks, rds, stepfunctions ...")
        action.add_argument("--operation", required=True, help="UpdateNodegroupConfig or update-nodegroup-config")
        action.add_argument("--code", required=code is None, default=code)
        action.add_argument("--times", type=int, default=1)
        action.add_argument("--message")
        action.add_argument("--http-status", type=int)
    build = actions.add_parser("fail-build", help="end the next N CodeBuild builds with a failed status")
    build.add_argument("--status", default="FAILED", choices=["FAILED", "FAULT", "TIMED_OUT", "STOPPED"])
    build.add_argument("--times", type=int, default=1)
    build.add_argument("--message")
    listing = actions.add_parser("list", help="holds and faults armed now")
    listing.add_argument("--calls", action="store_true", help="also the calls the control plane made")
    actions.add_parser("clear", help="drop every hold and fault")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cpctl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="the emulated AWS")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    demo = sandbox_commands.add_parser("demo", help="run every workflow scenario and print what each execution did")
    demo.add_argument("--environment", default="dev", choices=["dev", "prod"])
    demo.add_argument("--verbose", action="store_true", help="list the AWS calls of every execution")
    up = sandbox_commands.add_parser("up", help="serve the sandbox over HTTP until Ctrl-C (an AWS endpoint)")
    up.add_argument("--host", default="127.0.0.1", help="bind address; 0.0.0.0 for containers (sam local invoke)")
    up.add_argument("--port", type=int, default=4566, help="0 picks a free port (printed)")
    up.add_argument("--environment", default="dev", choices=["dev", "prod"])
    up.add_argument("--log-requests", action="store_true", help="log every HTTP request to stderr")
    up.add_argument("--quiet", action="store_true", help="no line per Lambda invocation")
    _add_fault_commands(sandbox_commands)

    scale = commands.add_parser("scale", help="start a Scale execution in AWS")
    scale.add_argument("--state-machine-arn", required=True)
    scale.add_argument(
        "--resource", required=True, help='JSON, e.g. {"kind":"nodegroup","cluster":"sip-prod","nodegroup":"general"}'
    )
    scale.add_argument("--desired", type=int)
    scale.add_argument("--delta", type=int)
    scale.add_argument("--reason", required=True)
    scale.add_argument("--requester", required=True, help="who asks (recorded in audit)")
    scale.add_argument("--dry-run", action="store_true")

    rotate = commands.add_parser("rotate", help="start a Rotation execution in AWS (docs/rotation.md)")
    rotate.add_argument("--state-machine-arn", required=True, help="the RotationStateMachineArn output")
    rotate.add_argument("--secret", help="a secret of the rotation policy, e.g. sip/prod/postgres/app")
    rotate.add_argument("--all-due", action="store_true", help="every secret that is due (what the schedule runs)")
    rotate.add_argument("--reason", required=True)
    rotate.add_argument("--requester", required=True, help="who asks (recorded in audit)")
    rotate.add_argument("--dry-run", action="store_true")

    args = parser.parse_args(argv)
    if args.command == "sandbox" and args.sandbox_command == "up":
        from cpctl.sandbox.server import serve

        return serve(
            host=args.host,
            port=args.port,
            environment=args.environment,
            log_requests=args.log_requests,
            quiet=args.quiet,
        )
    if args.command == "sandbox" and args.sandbox_command == "fault":
        from cpctl.sandbox.control import run_fault_command

        options = {k: v for k, v in vars(args).items() if k not in {"command", "sandbox_command", "endpoint_url"}}
        return run_fault_command(args.endpoint_url, args.fault_action, options)
    if args.command == "sandbox":
        from cpctl.sandbox.demo import run_demo

        return run_demo(environment=args.environment, verbose=args.verbose)
    if args.command == "scale":
        import boto3

        response = boto3.client("stepfunctions").start_execution(
            stateMachineArn=args.state_machine_arn, input=json.dumps(_scale_request(args))
        )
        print(response["executionArn"])
        return 0
    if args.command == "rotate":
        import uuid

        import boto3

        response = boto3.client("stepfunctions").start_execution(
            stateMachineArn=args.state_machine_arn,
            name=f"rotate-{uuid.uuid4().hex[:16]}",  # the lease owner and audit key name it
            input=json.dumps(_rotation_request(args)),
        )
        print(response["executionArn"])
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
