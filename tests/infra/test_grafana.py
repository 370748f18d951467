"""Grafana dashboards of the platform (infra/monitoring/grafana/) as Grafana's file provisioning reads
them, and their PromQL against the metrics the exporters publish and the HighErrorRate rule.

Provisioning (Grafana docs, "Provision Grafana"): a dashboards provider file has ``apiVersion: 1`` and
``providers`` with ``name``, ``type: file`` and ``options.path``; a data source file has ``apiVersion: 1``
and ``datasources`` with ``name``, ``type``, ``access``, ``url``. A provisioned dashboard is identified by
its ``uid`` (at most 40 characters), and its panels refer to the data source by ``uid``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

GRAFANA = REPO / "infra" / "monitoring" / "grafana"
RULES = REPO / "infra" / "monitoring" / "prometheus" / "rules" / "service_alerts.rules"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# What the exporters publish (names from each exporter's documentation and source):
# kube-state-metrics (docs/metrics/*), node-exporter (node_cpu_seconds_total, node_memory_*),
# postgres_exporter (pg_up, pg_stat_database_*, pg_database_size_bytes, pg_replication_lag_seconds),
# redis_exporter (redis_*), the services' own http_requests_total, and Prometheus' ALERTS series.
KNOWN_METRICS = {
    "kube_node_status_condition", "kube_node_labels", "kube_pod_status_phase", "kube_pod_status_ready",
    "kube_pod_container_status_restarts_total", "node_cpu_seconds_total", "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes", "pg_up", "pg_stat_database_numbackends", "pg_stat_database_xact_commit",
    "pg_stat_database_xact_rollback", "pg_stat_database_deadlocks", "pg_database_size_bytes",
    "pg_replication_lag_seconds", "redis_up", "redis_connected_clients", "redis_memory_used_bytes",
    "redis_memory_max_bytes", "redis_commands_processed_total", "redis_keyspace_hits_total",
    "redis_keyspace_misses_total", "redis_evicted_keys_total", "http_requests_total", "ALERTS",
}  # fmt: skip
PROMQL_WORDS = {
    "sum", "avg", "max", "min", "count", "topk", "by", "without", "rate", "increase", "irate", "and", "or",
    "unless", "on", "ignoring", "label_values", "offset",
}  # fmt: skip
PANEL_TYPES = {"timeseries", "stat", "gauge", "table", "bargauge", "text", "row"}


def _load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _provisioned_datasource_uids() -> set[str]:
    found = set()
    for path in (GRAFANA / "provisioning" / "datasources").glob("*.yaml"):
        config = yaml.safe_load(path.read_text())
        assert config["apiVersion"] == 1
        for source in config["datasources"]:
            assert {"name", "type", "access", "url", "uid"} <= set(source), source
            assert source["access"] in {"proxy", "direct"}
            found.add(source["uid"])
    return found


def test_dashboard_provider_points_at_a_path_for_the_dashboards() -> None:
    files = list((GRAFANA / "provisioning" / "dashboards").glob("*.yaml"))
    assert files
    for path in files:
        config = yaml.safe_load(path.read_text())
        assert config["apiVersion"] == 1
        for provider in config["providers"]:
            assert provider["type"] == "file" and provider["name"]
            assert provider["options"]["path"].startswith("/"), "an absolute path inside Grafana's container"
    assert len(DASHBOARDS) >= 4


def test_dashboards_have_unique_uids_and_titles() -> None:
    boards = [_load(path) for path in DASHBOARDS]
    uids = [board["uid"] for board in boards]
    assert len(set(uids)) == len(uids) and all(0 < len(uid) <= 40 for uid in uids)
    assert len({board["title"] for board in boards}) == len(boards)
    assert {"sip-cluster", "sip-database", "sip-cache", "sip-http-errors"} <= set(uids)
    for board in boards:
        assert board.get("id") is None, "provisioned dashboards carry no id (Grafana assigns one)"
        assert isinstance(board["schemaVersion"], int) and board["panels"]


def _exprs(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in board.get("templating", {}).get("list", []) if v.get("type") == "query"]
    return exprs


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_are_placed_and_query_the_provisioned_datasource(path: Path) -> None:
    board = _load(path)
    uids = _provisioned_datasource_uids()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in board["panels"]:
        assert panel["type"] in PANEL_TYPES
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        assert panel["datasource"]["uid"] in uids
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs)
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids and target["expr"].strip()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_promql_is_balanced_and_names_known_metrics(path: Path) -> None:
    for expr in _exprs(_load(path)):
        depth = {"(": 0, "[": 0, "{": 0}
        closing = {")": "(", "]": "[", "}": "{"}
        for char in re.sub(r'"[^"]*"', '""', expr):
            if char in depth:
                depth[char] += 1
            elif char in closing:
                depth[closing[char]] -= 1
                assert depth[closing[char]] >= 0, expr
        assert not any(depth.values()), expr
        bare = re.sub(r'"[^"]*"|\{[^}]*\}|\[[^\]]*\]', " ", expr)
        bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", bare)
        bare = re.sub(r",\s*[A-Za-z_]+\s*\)", ")", bare)  # label_values(metric, label): the label is no metric
        names = set(re.findall(r"\b[A-Za-z_:][A-Za-z0-9_:]*\b", bare)) - PROMQL_WORDS
        names = {n for n in names if not re.fullmatch(r"\d+[smhd]?|e", n)}
        assert names, expr
        assert names <= KNOWN_METRICS, f"{path.name}: {sorted(names - KNOWN_METRICS)} in {expr}"


def test_the_http_dashboard_shows_the_high_error_rate_rule_as_it_fires() -> None:
    rule = next(
        r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if r.get("alert") == "HighErrorRate"
    )
    expression, threshold = re.fullmatch(r"(.+?)\s*>\s*([0-9.]+)", rule["expr"]).groups()  # type: ignore[union-attr]
    board = _load(GRAFANA / "dashboards" / "http-errors.json")
    panel = next(p for p in board["panels"] if any(t["expr"] == expression for t in p["targets"]))
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert float(threshold) in [step["value"] for step in steps], "the panel's threshold is the rule's"
    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
    assert any('alertname="HighErrorRate"' in e for e in _exprs(board))
