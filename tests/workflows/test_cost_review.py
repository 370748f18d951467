"""The weekly cost review end to end in the sandbox: metrics, recommendations, the report in S3, own cost."""

from __future__ import annotations

import json

import pytest
from controlplane import clock

from cpctl.sandbox import cleanup_support as cs
from cpctl.sandbox.runtime import Sandbox

pytestmark = pytest.mark.sandbox
SM = "CostReviewStateMachine"


def test_review_writes_report_recommends_and_prices_the_control_plane(sandbox: Sandbox) -> None:
    cs.create_buckets(sandbox)
    scale = sandbox.run(
        "ScaleStateMachine",
        {
            "resource": {"kind": "rds_replicas", "primary": sandbox.primary_id},
            "desired": 1,
            "reason": "reads",
            "requester": {"type": "person", "id": "alice"},
        },
    )
    assert scale.outcome == "Succeeded", scale.reason
    from moto.eks.models import eks_backends

    # moto's UntagResource does not find node groups: take the tag off in its backend (as if never set).
    cluster = eks_backends[cs.ACCOUNT][sandbox.region].clusters[str(sandbox.tfvars["eks_cluster_name"])]
    cluster.nodegroups["spot"].tags.pop("Environment")
    cs.seed_metrics(sandbox, clock.now())
    report = sandbox.run(SM, {"requester": {"type": "schedule", "id": "cost-review"}})
    assert report.outcome == "Succeeded", report.reason
    summary = (report.output or {})["summary"]
    assert summary["monthly_saving"] > 0 and summary["missing_tags"] == 1
    assert not sandbox.denials()
    s3 = sandbox.client("s3")
    key = summary["report_key"].removeprefix("s3://sip-dev-backups/")
    body = json.loads(s3.get_object(Bucket="sip-dev-backups", Key=key)["Body"].read())
    actions = {(r["action"], r["resource"]) for r in body["recommendations"]}
    assert ("remove_idle_replica", f"rds_instance:{sandbox.primary_id}-cp-1") in actions
    assert ("lower_shard_count", f"cache_group:{sandbox.cache_group_id}") in actions
    assert ("move_to_spot", "nodegroup:cpu_optimized") in actions
    assert body["missing_tags"] == {"nodegroup:spot": ["Environment"]}
    assert body["prices_as_of"] and body["prices_source"]
    # The control plane's own cost: the Scale execution above, its transitions and Lambda GB-seconds.
    assert body["own_cost"]["executions"]["sip-controlplane-scale-dev"] == 1
    assert body["own_cost"]["transitions"]["sip-controlplane-scale-dev"] > 5
    assert sum(body["own_cost"]["lambda_gb_seconds"].values()) > 0
    assert body["metric_calls"] >= 2 and body["metric_queries"] <= 500 * body["metric_calls"]
    page = s3.get_object(Bucket="sip-dev-backups", Key=key.replace(".json", ".html"))["Body"].read().decode()
    assert "Estimated saving" in page and "remove_idle_replica" in page
    note = [n for n in sandbox.notifications() if "cost-review" in n["Subject"]]
    assert note and "Report: s3://" in note[0]["Message"]


def test_dry_run_writes_nothing(sandbox: Sandbox) -> None:
    cs.create_buckets(sandbox)
    report = sandbox.run(SM, {"dry_run": True})
    assert report.outcome == "DryRun", report.reason
    assert "Contents" not in sandbox.client("s3").list_objects_v2(Bucket="sip-dev-backups", Prefix="reports/cost/")
