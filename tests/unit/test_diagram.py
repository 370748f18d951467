"""Mermaid generated from ASL: every state a node, every transition an edge (Catch dotted), Parallel and
Map branches as subgraphs. Checked on the template's real state machines and on a synthetic one that
has every construct."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cpctl.ops import diagram
from cpctl.ops.errors import CpctlError
from cpctl.ops.workflows import key_of, name_of, resolve, template_state_machines

EDGE = re.compile(r"^\s*(\S+) (-->|-- \"(.*?)\" -->|-\. \"(.*?)\" \.->) (\S+)$")


def _edges(text: str) -> list[tuple[str, str, str]]:
    """(source, target, label) of every edge; dotted edges' labels start with 'catch'."""
    found = []
    for line in text.splitlines():
        match = EDGE.match(line)
        if match:
            found.append((match.group(1), match.group(5), match.group(3) or match.group(4) or ""))
    return found


def _node(text: str, name: str) -> str:
    for line in text.splitlines():
        match = re.match(r'^\s*(s_\w+)[\[\{\(]+"' + re.escape(name) + r'( ↻)?"', line)
        if match:
            return match.group(1)
    raise AssertionError(f"no node for {name!r} in\n{text}")


@pytest.mark.parametrize("logical_id", list(template_state_machines()))
def test_every_state_and_transition_of_the_template_is_drawn(logical_id: str) -> None:
    workflow = template_state_machines()[logical_id]
    definition = json.loads(workflow.definition_path.read_text())
    text = diagram.mermaid(definition)
    edges = _edges(text)
    for name, state in definition["States"].items():
        node = _node(text, diagram._text(name))
        # A Parallel or Map state leads on from its "done" node, where its branches meet.
        leaving = _node(text, diagram._text(f"{name} done")) if state["Type"] in {"Parallel", "Map"} else node
        targets = [state.get("Next"), state.get("Default"), *(c["Next"] for c in state.get("Choices", []))]
        for target in filter(None, targets):
            assert (leaving, _node(text, diagram._text(target))) in {(s, t) for s, t, _ in edges}, (name, target)
        for catch in state.get("Catch", []):
            target = _node(text, diagram._text(catch["Next"]))
            labels = [label for s, t, label in edges if (s, t) == (node, target) and label.startswith("catch ")]
            assert any(catch["ErrorEquals"][0] in label for label in labels), (name, catch, labels)


SYNTHETIC: dict[str, Any] = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.a", "NumericGreaterThan": 1},
                        {"Not": {"Variable": "$.b", "IsPresent": True}},
                    ],
                    "Next": "Fan out",
                },
            ],
            "Default": "Give up",
        },
        "Fan out": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Task", "Resource": "x", "End": True}}},
                {
                    "StartAt": "Right",
                    "States": {"Right": {"Type": "Pass", "Next": "Right done"}, "Right done": {"Type": "Succeed"}},
                },
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Give up"}],
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Item",
                "States": {
                    "Item": {"Type": "Task", "Resource": "y", "End": True, "Retry": [{"ErrorEquals": ["States.ALL"]}]}
                },
            },
            "End": True,
        },
        "Give up": {"Type": "Fail", "Error": "X"},
    },
}


def test_parallel_map_choice_and_catch() -> None:
    text = diagram.mermaid(SYNTHETIC)
    edges = {(s, t): label for s, t, label in _edges(text)}
    check, fan, each, give_up = (_node(text, n) for n in ("Check", "Fan out", "Each", "Give up"))
    assert edges[(check, fan)] == "$.a #gt; 1 and not $.b is present"
    assert edges[(check, give_up)] == "otherwise"
    assert edges[(fan, give_up)] == "catch States.ALL"
    # Each branch is a subgraph entered from the Parallel node and left through its "done" node.
    assert len(re.findall(r"subgraph s_Fan_out_b\d", text)) == 2
    left, right, right_done = (_node(text, n) for n in ("Left", "Right", "Right done"))
    joined = _node(text, "Fan out done")
    assert {(fan, left), (fan, right), (left, joined), (right_done, joined), (joined, each)} <= set(edges)
    assert "subgraph s_Each_b0" in text and _node(text, "Item ↻".removesuffix(" ↻"))
    assert (each, _node(text, "Item")) in edges and (_node(text, "Item"), _node(text, "Each done")) in edges
    assert (_node(text, "Each done"), "end_") in edges and 'end_(("end"))' in text
    assert text.startswith("flowchart TD\n") and "start_ --> " + check in text


def test_labels_are_quoted_safely() -> None:
    text = diagram.mermaid({"StartAt": 'Say "hi" <now>', "States": {'Say "hi" <now>': {"Type": "Succeed"}}})
    assert '"Say #quot;hi#quot; #lt;now#gt;"' in text


def test_workflow_names() -> None:
    assert name_of("RestoreDrillStateMachine") == "restore-drill"
    assert name_of("ScaleStateMachine") == "scale"
    assert {key_of(x) for x in ("restore-drill", "restore_drill", "RestoreDrill", "RestoreDrillStateMachine")} == {
        "restoredrill"
    }
    assert resolve("Restore_Drill", ["ScaleStateMachine", "RestoreDrillStateMachine"]) == "RestoreDrillStateMachine"
    with pytest.raises(CpctlError) as raised:
        resolve("nope", ["ScaleStateMachine", "CostReviewStateMachine"])
    assert raised.value.hint == "workflows here: cost-review, scale"


def test_update_docs_adds_rewrites_and_names_a_missing_runbook(tmp_path: Path) -> None:
    asl = tmp_path / "flow.asl.json"
    asl.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}))
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  FlowStateMachine:\n    Type: AWS::Serverless::StateMachine\n"
        "    Properties:\n      DefinitionUri: flow.asl.json\n"
        "  OtherThingStateMachine:\n    Type: AWS::Serverless::StateMachine\n"
        "    Properties:\n      DefinitionUri: flow.asl.json\n"
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "flow.md").write_text("# Flow\n")
    with pytest.raises(CpctlError) as raised:
        diagram.update_docs(docs, template)
    assert "docs/other-thing.md (OtherThingStateMachine)" in raised.value.message
    assert "```mermaid" in (docs / "flow.md").read_text()  # the one with a runbook was still written
    (docs / "other-thing.md").write_text("# Other\n")
    states = {lid: state for lid, _, state in diagram.update_docs(docs, template)}
    assert states == {"FlowStateMachine": "fresh", "OtherThingStateMachine": "added"}
    asl.write_text(json.dumps({"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}))
    assert {state for _, _, state in diagram.stale_docs(docs, template)} == {"stale"}
    diagram.update_docs(docs, template)
    assert {state for _, _, state in diagram.stale_docs(docs, template)} == {"fresh"}
    assert (docs / "flow.md").read_text().count("BEGIN cpctl diagram") == 1
