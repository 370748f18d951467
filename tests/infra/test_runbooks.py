"""Every workflow in the template has a runbook in docs/ (trigger, what it changes, how to stop it, how
to undo it) whose diagram is the one generated from its ASL today.

Generic on purpose: a state machine added to template.yaml fails here until its runbook exists and
`cpctl diagram --update-docs` has written its diagram (the command adds it to docs/<workflow>.md, or
rewrites the block wherever the doc already carries it).
"""

from __future__ import annotations

import re

import pytest

from cpctl.ops import diagram
from cpctl.ops.workflows import template_state_machines
from tests.conftest import REPO

DOCS = REPO / "docs"
MACHINES = template_state_machines()
# Each runbook answers these, as headings or bold paragraph labels ("**Trigger.**"), in any order.
SECTIONS = {
    "trigger": re.compile(r"trigger|started by|starts it", re.I),
    "what it changes": re.compile(r"chang|what (it|a run) (does|makes|reads|recommends)", re.I),
    "how to stop it": re.compile(r"stop|pause|disable", re.I),
    "how to undo it": re.compile(r"undo|roll ?back|revert", re.I),
}


@pytest.mark.parametrize("logical_id", list(MACHINES))
def test_every_workflow_has_a_runbook(logical_id: str) -> None:
    workflow = MACHINES[logical_id]
    path = diagram.runbook_of(workflow, DOCS)
    assert path is not None, (
        f"no runbook for {logical_id}: write docs/{workflow.name}.md, then `{diagram.UPDATE_COMMAND}`"
    )
    lines = path.read_text().splitlines()
    headings = [line for line in lines if line.startswith("#") or re.match(r"^\*\*[^*]+\*\*", line)]
    missing = [name for name, pattern in SECTIONS.items() if not any(pattern.search(h) for h in headings)]
    assert not missing, f"{path.name} has no heading for {missing}"


@pytest.mark.parametrize("logical_id", list(MACHINES))
def test_every_runbook_diagram_is_fresh(logical_id: str) -> None:
    workflow = MACHINES[logical_id]
    path = diagram.runbook_of(workflow, DOCS)
    assert path is not None
    embedded = diagram.embedded(path.read_text(), logical_id)
    assert embedded == diagram.block(workflow), (
        f"the diagram of {logical_id} in {path.name} is stale or missing: run `{diagram.UPDATE_COMMAND}`"
    )


def test_the_triggers_diagram_is_fresh_wherever_embedded() -> None:
    fresh = diagram.triggers_block()
    holders = [p for p in DOCS.glob("*.md") if "cpctl diagram Triggers:" in p.read_text()]
    assert holders, "docs/business-hours.md embeds the triggers diagram"
    for path in holders:
        assert diagram.embedded(path.read_text(), "Triggers") == fresh, f"{path.name}: run `{diagram.UPDATE_COMMAND}`"


def test_stale_docs_reports_everything_fresh() -> None:
    assert {state for _, _, state in diagram.stale_docs()} == {"fresh"}
