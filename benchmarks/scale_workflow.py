"""States entered and AWS API calls per Scale execution, per resource kind, and two scale runs.

Runs in the sandbox (real ASL, real handlers, instant waits): the counts are what AWS would bill
and throttle on; the durations are the sandbox's own and say nothing about AWS latency.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from cpctl.sandbox.runtime import ExecutionReport, Sandbox

SCALE = "ScaleStateMachine"


def requests(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """One representative request per kind; kinds register their own in KIND_REQUESTS."""
    cluster = sandbox.tfvars["eks_cluster_name"]
    found = {
        "nodegroup": {
            "resource": {"kind": "nodegroup", "cluster": cluster, "nodegroup": "general"},
            "desired": 5,
        }
    }
    for kind, build in KIND_REQUESTS.items():
        found[kind] = build(sandbox)
    return found


# Other kinds add a builder here: kind -> (sandbox -> request without reason/requester).
KIND_REQUESTS: dict[str, Any] = {
    "rds_replicas": lambda sb: {
        "resource": {"kind": "rds_replicas", "primary": f"sip-{sb.tfvars['environment']}-postgres"},
        "desired": 2,
    },
    "cache_shards": lambda sb: {
        "resource": {"kind": "cache_shards", "replication_group": f"sip-{sb.tfvars['environment']}-redis"},
        "delta": 1,
    },
    "rds_storage": lambda sb: {
        "resource": {"kind": "rds_storage", "db_instance": f"sip-{sb.tfvars['environment']}-postgres"},
        "delta": 20,
    },
}


def _full(request: dict[str, Any], reason: str) -> dict[str, Any]:
    return {**request, "reason": reason, "requester": {"type": "api", "id": "benchmark"}}


def _line(label: str, report: ExecutionReport) -> str:
    lambdas = sum(n for (service, _), n in report.api_calls.items() if service == "lambda")
    return (
        f"  {label:<22} {report.outcome:<10} states {len(report.states_entered):>3}  "
        f"task invocations {lambdas:>3}  AWS calls {report.aws_calls:>3}  ({report.duration_seconds:.2f}s)"
    )


def per_kind() -> None:
    print("One Scale execution per kind (1 poll while the resource settles)")
    with Sandbox() as sandbox:
        for kind, request in requests(sandbox).items():
            report = sandbox.run(SCALE, _full(request, f"benchmark {kind}"))
            print(_line(kind, report))
            calls = Counter({f"{s}:{o}": n for (s, o), n in report.api_calls.items() if s != "lambda"})
            print("    " + ", ".join(f"{name} x{n}" for name, n in sorted(calls.items())))


def concurrent_run(executions: int = 20) -> None:
    print(f"\n{executions} concurrent requests on one node group (the lock lets one through)")
    with Sandbox() as sandbox:
        cluster = sandbox.tfvars["eks_cluster_name"]
        request = _full(
            {"resource": {"kind": "nodegroup", "cluster": cluster, "nodegroup": "cpu_optimized"}, "delta": 1}, "run"
        )
        started = time.perf_counter()
        arns = [sandbox.start_execution(SCALE, request) for _ in range(executions)]
        reports = [sandbox.wait(arn) for arn in arns]
        elapsed = time.perf_counter() - started
        outcomes = Counter(r.outcome for r in reports)
        applied = sum(r.calls("UpdateNodegroupConfig") for r in reports)
        states = sum(len(r.states_entered) for r in reports)
        calls = sum(r.aws_calls for r in reports)
        print(f"  outcomes {dict(outcomes)}; UpdateNodegroupConfig calls {applied}")
        print(
            f"  states entered {states} ({states / executions:.1f}/execution); AWS calls {calls} "
            f"({calls / executions:.1f}/execution); {executions / elapsed:.1f} executions/s in the sandbox"
        )


def dry_run_throughput(executions: int = 30) -> None:
    print(f"\n{executions} sequential dry runs (plan and guards only)")
    with Sandbox() as sandbox:
        cluster = sandbox.tfvars["eks_cluster_name"]
        request = _full(
            {
                "resource": {"kind": "nodegroup", "cluster": cluster, "nodegroup": "general"},
                "delta": 1,
                "dry_run": True,
            },
            "dry",
        )
        started = time.perf_counter()
        reports = [sandbox.run(SCALE, request) for _ in range(executions)]
        elapsed = time.perf_counter() - started
        states = sum(len(r.states_entered) for r in reports) / executions
        calls = sum(r.aws_calls for r in reports) / executions
        print(f"  {executions / elapsed:.1f} executions/s; {states:.1f} states and {calls:.1f} AWS calls per execution")


def main() -> None:
    per_kind()
    concurrent_run()
    dry_run_throughput()


if __name__ == "__main__":
    main()
