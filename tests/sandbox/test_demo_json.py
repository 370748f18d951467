"""`cpctl sandbox demo --json`: the tables go to stderr, one JSON document to stdout with every scenario,
its executions (status, outcome, reason, counts), notes and unexpected results. Two scenarios of the
demo's own list, not all of them (`make demo` runs those)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from cpctl.sandbox import demo
from cpctl.sandbox.scenarios import Scenario, scale_nodegroups

pytestmark = pytest.mark.sandbox


def test_the_json_summary_reports_each_scenario(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    def breaks_an_expectation(sandbox: Any, out: Any) -> Any:
        result = scale_nodegroups.refused_beyond_max(sandbox, out)
        result.failures.append("an expectation that did not hold")
        return result

    chosen = [scale_nodegroups.SCENARIOS[1], Scenario("A scenario that finds a surprise", breaks_an_expectation)]
    monkeypatch.setattr(demo, "all_scenarios", lambda: chosen)
    out = io.StringIO()
    code = demo.run_demo(out=out, as_json=True)
    summary = json.loads(out.getvalue())
    assert code == 1 and summary["ok"] is False
    titles = [scenario["title"] for scenario in summary["scenarios"]]
    assert titles == [scenario.title for scenario in chosen]
    first, second = summary["scenarios"]
    assert first["unexpected"] == [] and second["unexpected"] == ["an expectation that did not hold"]
    [execution] = first["executions"][-1:]
    assert execution["status"] == "SUCCEEDED" and execution["outcome"] == "Blocked" and execution["reason"]
    assert execution["arn"].startswith("arn:aws:states:") and execution["states_entered"] > 0
    assert "UNEXPECTED" in capsys.readouterr().err  # the human tables went to stderr
