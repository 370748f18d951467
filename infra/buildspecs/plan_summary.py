#!/usr/bin/env python3
"""Summarise a Terraform plan for people and for the control plane (run by plan.yml and drift.yml).

    terraform show -json tfplan > plan.json
    python3 infra/buildspecs/plan_summary.py plan.json summary.json

Reads ``resource_changes`` of the JSON plan representation (format_version 1.x) and writes
``{"add", "change", "destroy", "stateful_destroys", "resources"}``: a replace (``["delete",
"create"]`` or ``["create", "delete"]``) counts as one add and one destroy, as ``terraform plan``
prints it; ``no-op`` and ``read`` are left out. A destroy (or replace) of a resource that holds data
(``STATEFUL_TYPES``) is listed in ``stateful_destroys``: the approval notification puts those first.
Standard library only: it runs in CodeBuild's image before anything is installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Resource types whose destruction loses data or breaks what depends on their identity.
STATEFUL_TYPES = frozenset(
    {
        "aws_db_instance",
        "aws_rds_cluster",
        "aws_rds_cluster_instance",
        "aws_db_snapshot",
        "aws_elasticache_replication_group",
        "aws_elasticache_cluster",
        "aws_s3_bucket",
        "aws_dynamodb_table",
        "aws_efs_file_system",
        "aws_ebs_volume",
        "aws_kms_key",
        "aws_secretsmanager_secret",
        "aws_eks_cluster",
        "aws_opensearch_domain",
        "aws_backup_vault",
        "aws_route53_zone",
    }
)


def summarise(plan: dict[str, Any], stateful_types: frozenset[str] = STATEFUL_TYPES) -> dict[str, Any]:
    """The summary of one ``terraform show -json`` document."""
    if not str(plan.get("format_version", "")).startswith("1."):
        raise ValueError(f"unsupported plan format_version {plan.get('format_version')!r}")
    counts = {"add": 0, "change": 0, "destroy": 0}
    stateful: list[str] = []
    resources: list[dict[str, Any]] = []
    for change in plan.get("resource_changes", []):
        if change.get("mode", "managed") != "managed":
            continue
        actions = list(change.get("change", {}).get("actions", []))
        if actions in (["no-op"], ["read"]) or not actions:
            continue
        if "create" in actions:
            counts["add"] += 1
        if "delete" in actions:
            counts["destroy"] += 1
        if actions == ["update"]:
            counts["change"] += 1
        is_stateful = change.get("type") in stateful_types
        if is_stateful and "delete" in actions:
            stateful.append(str(change["address"]))
        resources.append(
            {
                "address": str(change["address"]),
                "type": str(change.get("type")),
                "actions": actions,
                "stateful": is_stateful,
            }
        )
    return {**counts, "stateful_destroys": stateful, "resources": resources}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: plan_summary.py PLAN_JSON SUMMARY_JSON", file=sys.stderr)
        return 64
    summary = summarise(json.loads(Path(argv[1]).read_text()))
    Path(argv[2]).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(f"Plan: {summary['add']} to add, {summary['change']} to change, {summary['destroy']} to destroy.")
    for address in summary["stateful_destroys"]:
        print(f"!! STATEFUL DESTROY: {address}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
