"""Transitions and AWS API calls per Backup run (first and same-day repeat, with a held snapshot and copy),
and the Restore drill's RTO and RPO in the sandbox on real PostgreSQL.

Counts are what AWS would bill and throttle on; the durations are the sandbox's own (the drill's RTO is
mostly starting a PostgreSQL and pg_restore), not AWS's.
"""

from __future__ import annotations

from collections import Counter

from cpctl.sandbox import backup_support
from cpctl.sandbox.runtime import ExecutionReport, Sandbox

REQUEST = {"requester": {"type": "api", "id": "benchmark"}}


def _line(label: str, report: ExecutionReport) -> str:
    lambdas = sum(n for (service, _), n in report.api_calls.items() if service == "lambda")
    return (
        f"  {label:<34} {report.outcome:<16} states {len(report.states_entered):>3}  "
        f"task invocations {lambdas:>3}  AWS calls {report.aws_calls:>3}  ({report.duration_seconds:.2f}s)"
    )


def _top(report: ExecutionReport) -> str:
    calls = Counter({op: n for (service, op), n in report.api_calls.items() if service != "lambda"})
    return ", ".join(f"{op} {n}" for op, n in calls.most_common(8))


def main() -> None:
    from controlplane import clock

    from cpctl.sandbox.servers import PostgresServer

    with PostgresServer() as source, Sandbox() as sandbox:
        with source.connect(database="sip") as connection:
            connection.run("CREATE TABLE accounts (id int PRIMARY KEY, name text)")
            connection.run("CREATE TABLE opportunities (id int PRIMARY KEY, amount numeric)")
            connection.run("INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 20000) g")
            connection.run("INSERT INTO opportunities SELECT g, g * 1.5 FROM generate_series(1, 50000) g")
        plane = backup_support.attach_database(sandbox, source)
        try:
            day = clock.now().strftime("%Y-%m-%d")
            sandbox.state.hold("rds-snapshot", f"cp-{sandbox.primary_id}-{day}", polls=3, status="creating")
            sandbox.state.hold("rds-snapshot-copy", f"cp-{sandbox.primary_id}-{day}", polls=3, status="pending")
            sandbox.state.hold("elasticache-snapshot", f"cp-{sandbox.cache_group_id}-{day}", polls=2, status="creating")
            first = sandbox.run("BackupStateMachine", REQUEST)
            print(_line("backup (3 snapshot/copy polls)", first))
            print(f"    calls: {_top(first)}")
            again = sandbox.run("BackupStateMachine", REQUEST)
            print(_line("backup again the same day", again))
            drills = [sandbox.run("RestoreDrillStateMachine", REQUEST) for _ in range(3)]
            for index, drill in enumerate(drills, start=1):
                out = drill.output or {}
                print(_line(f"restore drill {index}", drill))
                rto, rpo = out.get("rto_seconds", float("nan")), out.get("rpo_seconds", float("nan"))
                print(f"    RTO {rto:.1f} s, RPO {rpo:.1f} s (20,000 + 50,000 rows restored and checked)")
        finally:
            plane.stop()


if __name__ == "__main__":
    main()
