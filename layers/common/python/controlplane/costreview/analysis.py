"""From resources and their metrics to findings and recommendations with a monthly saving (pure, no AWS)."""

from __future__ import annotations

import math
from datetime import date

from controlplane.costreview.models import PriceTable, Recommendation, Resource, ReviewPolicy


def mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def utilization(
    resources: list[Resource], values: dict[str, dict[str, list[float]]]
) -> dict[str, dict[str, float | None]]:
    """resource -> metric -> average over the period (None: no datapoints, so nothing is recommended on it)."""
    return {
        f"{r.kind}:{r.id}": {key: mean(series) for key, series in values.get(f"{r.kind}:{r.id}", {}).items()}
        for r in resources
    }


def missing_tags(resources: list[Resource], required: list[str]) -> dict[str, list[str]]:
    return {
        f"{r.kind}:{r.id}": missing for r in resources if (missing := [tag for tag in required if not r.tags.get(tag)])
    }


def spot_share(resources: list[Resource], policy: ReviewPolicy) -> float | None:
    nodes = [r for r in resources if r.kind == "nodegroup" and r.id in policy.non_critical_nodegroups]
    total = sum(r.count for r in nodes)
    if not total:
        return None
    return round(100.0 * sum(r.count for r in nodes if r.capacity_type == "SPOT") / total, 1)


def recommend(
    resources: list[Resource],
    used: dict[str, dict[str, float | None]],
    policy: ReviewPolicy,
    prices: PriceTable,
) -> list[Recommendation]:
    found: list[Recommendation] = []
    for r in resources:
        key = f"{r.kind}:{r.id}"
        cpu, memory, connections = (
            used.get(key, {}).get("cpu"),
            used.get(key, {}).get("memory"),
            used.get(key, {}).get("connections"),
        )
        if r.kind == "nodegroup":
            hourly = prices.ec2_hourly.get(r.size)
            minimum = int(r.role.removeprefix("min ") or 0)
            if hourly and cpu is not None and cpu < policy.nodegroup_low_cpu_percent and r.count > minimum:
                needed = max(minimum, math.ceil(r.count * cpu / policy.nodegroup_target_cpu_percent))
                if needed < r.count:
                    rate = hourly * (1 - prices.spot_discount_estimate) if r.capacity_type == "SPOT" else hourly
                    found.append(
                        Recommendation(
                            action="right_size",
                            resource=key,
                            detail=f"{r.count} -> {needed} nodes of {r.size} (average CPU {cpu}% over the period)",
                            monthly_saving=prices.monthly(rate * (r.count - needed)),
                            evidence={"cpu_percent": cpu},
                        )
                    )
            if hourly and r.id in policy.non_critical_nodegroups and r.capacity_type != "SPOT" and r.count:
                found.append(
                    Recommendation(
                        action="move_to_spot",
                        resource=key,
                        detail=f"non-critical group on {r.capacity_type}: {r.count} x {r.size} to spot capacity",
                        monthly_saving=prices.monthly(hourly * prices.spot_discount_estimate * r.count),
                    )
                )
        elif r.kind == "rds_instance":
            hourly = prices.rds_hourly.get(r.size)
            factor = prices.rds_multi_az_factor if r.multi_az else 1.0
            if not hourly or cpu is None:
                continue
            if (
                r.role == "replica"
                and cpu < policy.replica_idle_cpu_percent
                and (connections or 0) < policy.replica_idle_connections
            ):
                how = (
                    "through the Scale workflow"
                    if r.managed_by == "controlplane"
                    else "in Terraform (rds_read_replicas)"
                )
                found.append(
                    Recommendation(
                        action="remove_idle_replica",
                        resource=key,
                        detail=f"idle replica (CPU {cpu}%, {connections or 0} connections on average): remove it {how}",
                        monthly_saving=prices.monthly(hourly * factor),
                        evidence={"cpu_percent": cpu, "connections": connections or 0.0},
                    )
                )
            smaller = prices.downsize.get(r.size)
            if (
                r.role == "primary"
                and smaller
                and cpu < policy.primary_low_cpu_percent
                and smaller in prices.rds_hourly
            ):
                found.append(
                    Recommendation(
                        action="right_size",
                        resource=key,
                        detail=f"{r.size} -> {smaller} (average CPU {cpu}%); a class change is a Terraform change",
                        monthly_saving=prices.monthly((hourly - prices.rds_hourly[smaller]) * factor),
                        evidence={"cpu_percent": cpu},
                    )
                )
        elif r.kind == "cache_group":
            hourly = prices.elasticache_hourly.get(r.size)
            if hourly and memory is not None and memory < policy.cache_low_memory_percent and r.shards > 1:
                shards = max(1, math.ceil(r.shards * memory / policy.cache_target_memory_percent))
                if shards < r.shards:
                    found.append(
                        Recommendation(
                            action="lower_shard_count",
                            resource=key,
                            detail=f"{r.shards} -> {shards} shards (average memory {memory}% of maxmemory)",
                            monthly_saving=prices.monthly(hourly * (r.shards - shards) * (1 + r.replicas_per_shard)),
                            evidence={"memory_percent": memory},
                        )
                    )
    return sorted(found, key=lambda rec: -rec.monthly_saving)


def stale(prices: PriceTable, today: date) -> bool:
    return (today - prices.as_of).days > prices.stale_after_days
