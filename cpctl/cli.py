"""cpctl: the operator CLI. ``cpctl sandbox demo`` runs the workflows in the emulated AWS;
``cpctl scale`` starts a Scale execution in a real account (the same input the sandbox takes)."""

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cpctl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="the emulated AWS")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    demo = sandbox_commands.add_parser("demo", help="run every workflow scenario and print what each execution did")
    demo.add_argument("--environment", default="dev", choices=["dev", "prod"])
    demo.add_argument("--verbose", action="store_true", help="list the AWS calls of every execution")

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

    args = parser.parse_args(argv)
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
    return 2


if __name__ == "__main__":
    sys.exit(main())
