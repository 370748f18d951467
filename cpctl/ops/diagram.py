"""Mermaid flowcharts generated from the ASL, and the copies the runbooks embed.

A state is a node shaped by its type (Task box, Choice rhombus, Wait and Pass rounded, Succeed/Fail
circles); ``Next`` / ``Default`` / choice rules are solid edges (a rule's condition as its label),
``Catch`` edges are dotted and name the errors they catch; a state with a Retry is marked ↻. Parallel
branches and Map iterators are subgraphs (the state's own node leads into each branch and every branch
end leads back out to ``Next``).

Each runbook carries its workflow's diagram between two markers; ``cpctl diagram --update-docs``
rewrites every one of them (or adds one to ``docs/<workflow>.md``), and ``tests/infra/test_runbooks.py``
fails while any is stale.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpctl import REPO_ROOT
from cpctl.ops.errors import CpctlError, Exit
from cpctl.ops.workflows import TemplateWorkflow, template_state_machines

UPDATE_COMMAND = "cpctl diagram --update-docs"
BEGIN = "<!-- BEGIN cpctl diagram {logical_id}: generated from {path} by `" + UPDATE_COMMAND + "`; do not edit -->"
END = "<!-- END cpctl diagram {logical_id} -->"
_BEGIN_RE = re.compile(r"<!-- BEGIN cpctl diagram (\w+):")
_COMPARATORS = {
    "Equals": "==",
    "EqualsPath": "==",
    "LessThan": "<",
    "LessThanPath": "<",
    "GreaterThan": ">",
    "GreaterThanPath": ">",
    "LessThanEquals": "<=",
    "LessThanEqualsPath": "<=",
    "GreaterThanEquals": ">=",
    "GreaterThanEqualsPath": ">=",
    "Matches": "matches",
}


def _text(value: str, limit: int = 48) -> str:
    """Label text Mermaid accepts inside quotes."""
    value = " ".join(str(value).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def condition(rule: dict[str, Any]) -> str:  # noqa: PLR0911
    """A choice rule in a few words: ``$.status == Succeeded``, ``not(...)``, ``a and b``."""
    if "And" in rule:
        return " and ".join(condition(r) for r in rule["And"])
    if "Or" in rule:
        return " or ".join(condition(r) for r in rule["Or"])
    if "Not" in rule:
        return f"not {condition(rule['Not'])}"
    if "Condition" in rule:
        return str(rule["Condition"])
    variable = str(rule.get("Variable", "?"))
    for key, value in rule.items():
        if key in {"Variable", "Next", "Comment", "Assign", "Output"}:
            continue
        for suffix, symbol in _COMPARATORS.items():
            if key.endswith(suffix) and not (suffix == "Equals" and key.endswith("Path")):
                return f"{variable} {symbol} {value}"
        if key.startswith("Is"):
            return f"{variable} is {'' if value else 'not '}{key[2:].lower()}"
    return variable


@dataclass
class _Graph:
    lines: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)

    def node_id(self, scope: str, name: str) -> str:
        key = f"{scope}/{name}"
        if key not in self.ids:
            # Prefixed: Mermaid reads ids like ``end`` or ``o...`` after an edge as syntax.
            base = (
                re.sub(r"\W+", "_", f"{scope}_{name}").strip("_")
                if scope
                else "s_" + re.sub(r"\W+", "_", name).strip("_")
            )
            candidate, n = base, 1
            while candidate in self.ids.values():
                n += 1
                candidate = f"{base}_{n}"
            self.ids[key] = candidate
        return self.ids[key]


def _shape(node: str, name: str, state: dict[str, Any]) -> str:
    kind = state.get("Type", "?")
    label = _text(name)
    if any(r.get("MaxAttempts", 3) for r in state.get("Retry", [])):
        label += " ↻"  # retried on errors (the ASL says which)
    if kind == "Choice":
        return f'{node}{{"{label}"}}'
    if kind in {"Succeed", "Fail"}:
        return f'{node}(("{label}"))'
    if kind in {"Wait", "Pass"}:
        return f'{node}(["{label}"])'
    return f'{node}["{label}"]'


def _states(graph: _Graph, scope: str, machine: dict[str, Any], exit_to: str | None, indent: str) -> str:
    """Emit the states of one (sub)machine; returns the node id of its first state."""
    states: dict[str, dict[str, Any]] = machine.get("States", {})

    def nid(name: str) -> str:
        return graph.node_id(scope, name)

    for name, state in states.items():
        kind = state.get("Type")
        node = nid(name)
        if kind in {"Parallel", "Map"}:
            branches = (
                state.get("Branches")
                if kind == "Parallel"
                else [state.get("ItemProcessor") or state.get("Iterator") or {}]
            )
            graph.lines.append(f"{indent}{_shape(node, name, state)}")
            after = graph.node_id(scope, f"{name} done")
            graph.lines.append(f'{indent}{after}(["{_text(name)} done"])')
            for index, branch in enumerate(branches or []):
                sub = f"{node}_b{index}"
                title = f"{name}: branch {index + 1}" if kind == "Parallel" else f"{name}: each item"
                graph.lines.append(f'{indent}subgraph {sub}["{_text(title)}"]')
                first = _states(graph, sub, branch, after, indent + "  ")
                graph.lines.append(f"{indent}end")
                graph.lines.append(f"{indent}{node} --> {first}")
            _exits(graph, indent, after, state, nid, exit_to)
            _catches(graph, indent, node, state, nid)
            continue
        graph.lines.append(f"{indent}{_shape(node, name, state)}")
        if kind == "Choice":
            for rule in state.get("Choices", []):
                graph.lines.append(f'{indent}{node} -- "{_text(condition(rule))}" --> {nid(rule["Next"])}')
            if "Default" in state:
                graph.lines.append(f'{indent}{node} -- "otherwise" --> {nid(state["Default"])}')
        else:
            _exits(graph, indent, node, state, nid, exit_to)
        _catches(graph, indent, node, state, nid)
    return nid(str(machine.get("StartAt")))


def _catches(graph: _Graph, indent: str, node: str, state: dict[str, Any], nid: Any) -> None:
    for catch in state.get("Catch", []):
        label = _text("catch " + ", ".join(catch.get("ErrorEquals", [])))
        graph.lines.append(f'{indent}{node} -. "{label}" .-> {nid(catch["Next"])}')


def _exits(graph: _Graph, indent: str, node: str, state: dict[str, Any], nid: Any, exit_to: str | None) -> None:
    if "Next" in state:
        graph.lines.append(f"{indent}{node} --> {nid(state['Next'])}")
    elif (state.get("End") and exit_to) or (state.get("Type") == "Succeed" and exit_to and exit_to != "end_"):
        graph.lines.append(f"{indent}{node} --> {exit_to}")


def mermaid(definition: dict[str, Any]) -> str:
    """The flowchart of one state machine definition (ASL as a dict)."""
    graph = _Graph()
    graph.lines.append("flowchart TD")
    graph.lines.append('  start_(("start"))')
    first = _states(graph, "", definition, "end_", "  ")
    graph.lines.insert(2, f"  start_ --> {first}")
    if any(" --> end_" in line for line in graph.lines):
        graph.lines.insert(2, '  end_(("end"))')
    return "\n".join(graph.lines) + "\n"


def diagram_of(workflow: TemplateWorkflow) -> str:
    return mermaid(json.loads(workflow.definition_path.read_text()))


# --- the copies in the runbooks -------------------------------------------------------------------


def block(workflow: TemplateWorkflow) -> str:
    path = (
        workflow.definition_path.relative_to(REPO_ROOT)
        if workflow.definition_path.is_relative_to(REPO_ROOT)
        else workflow.definition_path
    )
    return "\n".join(
        [
            BEGIN.format(logical_id=workflow.logical_id, path=path),
            "```mermaid",
            diagram_of(workflow).rstrip("\n"),
            "```",
            END.format(logical_id=workflow.logical_id),
        ]
    )


def runbook_of(workflow: TemplateWorkflow, docs: Path) -> Path | None:
    """The doc that carries the workflow's diagram: the one with its marker, else ``docs/<workflow>.md``."""
    for path in sorted(docs.glob("*.md")):
        if f"cpctl diagram {workflow.logical_id}:" in path.read_text():
            return path
    conventional = docs / f"{workflow.name}.md"
    if conventional.exists():
        return conventional
    # A guide that covers several workflows names each in a heading: "## Restore drill (`RestoreDrillStateMachine`)".
    for path in sorted(docs.glob("*.md")):
        if any(line.startswith("#") and f"`{workflow.logical_id}`" in line for line in path.read_text().splitlines()):
            return path
    return None


def embedded(text: str, logical_id: str) -> str | None:
    """The diagram block for ``logical_id`` as it stands in a doc (markers included), or None."""
    start = text.find(f"<!-- BEGIN cpctl diagram {logical_id}:")
    end_marker = END.format(logical_id=logical_id)
    end = text.find(end_marker, start)
    if start < 0 or end < 0:
        return None
    return text[start : end + len(end_marker)]


def update_docs(docs: Path | None = None, template_path: Path | None = None) -> list[tuple[str, Path, str]]:
    """Rewrite every runbook's diagram: [(logical id, doc, "updated" | "added" | "fresh")]. A state machine
    without a runbook is an error naming the file to write (a runbook is written by a person)."""
    docs = docs or REPO_ROOT / "docs"
    done: list[tuple[str, Path, str]] = []
    missing: list[str] = []
    for workflow in template_state_machines(template_path).values():
        path = runbook_of(workflow, docs)
        if path is None:
            missing.append(f"docs/{workflow.name}.md ({workflow.logical_id})")
            continue
        text = path.read_text()
        fresh = block(workflow)
        current = embedded(text, workflow.logical_id)
        if current == fresh:
            done.append((workflow.logical_id, path, "fresh"))
            continue
        if current is None:
            title = "Diagram" if path.stem == workflow.name else f"Diagram: {workflow.name}"
            text = text.rstrip("\n") + f"\n\n## {title}\n\nGenerated from the ASL (`{UPDATE_COMMAND}`).\n\n{fresh}\n"
            done.append((workflow.logical_id, path, "added"))
        else:
            text = text.replace(current, fresh)
            done.append((workflow.logical_id, path, "updated"))
        path.write_text(text)
    fresh_triggers = triggers_block(template_path)
    for path in _docs_with(docs, TRIGGERS):
        text = path.read_text()
        current = embedded(text, TRIGGERS)
        if current is not None and current != fresh_triggers:
            path.write_text(text.replace(current, fresh_triggers))
        done.append((TRIGGERS, path, "fresh" if current == fresh_triggers else "updated"))
    if missing:
        raise CpctlError(
            "no runbook for " + ", ".join(missing),
            Exit.NOT_FOUND,
            "write it (trigger, what it changes, how to stop, how to undo), then run " + UPDATE_COMMAND,
        )
    return done


def stale_docs(docs: Path | None = None, template_path: Path | None = None) -> list[tuple[str, Path, str]]:
    """[(logical id, doc, "fresh" | "stale" | "missing")] for every state machine, changing nothing."""
    docs = docs or REPO_ROOT / "docs"
    found: list[tuple[str, Path, str]] = []
    for workflow in template_state_machines(template_path).values():
        path = runbook_of(workflow, docs)
        if path is None:
            found.append((workflow.logical_id, docs / f"{workflow.name}.md", "missing"))
            continue
        current = embedded(path.read_text(), workflow.logical_id)
        found.append((workflow.logical_id, path, "fresh" if current == block(workflow) else "stale"))
    fresh_triggers = triggers_block(template_path)
    for path in _docs_with(docs, TRIGGERS):
        current = embedded(path.read_text(), TRIGGERS)
        found.append((TRIGGERS, path, "fresh" if current == fresh_triggers else "stale"))
    return found


def _docs_with(docs: Path, logical_id: str) -> list[Path]:
    return [path for path in sorted(docs.glob("*.md")) if f"cpctl diagram {logical_id}:" in path.read_text()]


# --- what starts what: schedules, rules and subscriptions -> functions -> workflows ----------------

TRIGGERS = "Triggers"
_TRIGGER_TYPES = {
    "AWS::Scheduler::Schedule": "schedule",
    "AWS::Events::Rule": "rule",
    "AWS::SNS::Subscription": "subscription",
}
_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}")


def _refs(value: Any) -> set[str]:
    """Logical ids a template value points at (Ref, GetAtt, ${X} in Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(str(inner[0] if isinstance(inner, list) else str(inner).split(".")[0]))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= set(_SUB_REF.findall(str(text)))
                if isinstance(inner, list) and len(inner) > 1:
                    found |= _refs(inner[1])
            else:
                found |= _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _refs(inner)
    return found


def _parameter_default(template: dict[str, Any], value: Any) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return str(template.get("Parameters", {}).get(value["Ref"], {}).get("Default", value["Ref"]))
    return str(value)


def _sub_text(value: Any) -> str:
    if isinstance(value, dict) and "Fn::Sub" in value:
        inner = value["Fn::Sub"]
        return str(inner[0] if isinstance(inner, list) else inner)
    return str(value)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for inner in value.values() for s in _strings(inner)]
    if isinstance(value, list):
        return [s for inner in value for s in _strings(inner)]
    return [value] if isinstance(value, str) else []


def _started_by_name(props: dict[str, Any], names: dict[str, str]) -> set[str]:
    """State machines a function may start, from its ``states:StartExecution`` grants on ARNs built from
    the machine's name (templates do that to avoid a dependency cycle)."""
    found: set[str] = set()
    for statement in _statements(props.get("Policies", [])):
        actions = statement.get("Action", [])
        if "states:StartExecution" not in (actions if isinstance(actions, list) else [actions]):
            continue
        for text in _strings(statement.get("Resource")):
            found |= {lid for name, lid in names.items() if text.endswith(f"stateMachine:{name}")}
    return found


def _statements(policies: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in policies if isinstance(policies, list) else [policies]:
        if isinstance(policy, dict) and isinstance(policy.get("Statement"), list):
            found += [s for s in policy["Statement"] if isinstance(s, dict)]
    return found


def triggers_mermaid(template: dict[str, Any]) -> str:
    """Which schedule, rule or subscription invokes which function, and which function or workflow starts
    which workflow, from the template alone (so it cannot drift from what is deployed)."""
    resources: dict[str, dict[str, Any]] = template.get("Resources", {})
    kinds = {lid: spec.get("Type", "") for lid, spec in resources.items()}
    functions = {lid for lid, kind in kinds.items() if kind == "AWS::Serverless::Function"}
    machines = {
        lid
        for lid, kind in kinds.items()
        if kind in {"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"}
    }
    edges: set[tuple[str, str]] = set()
    labels: dict[str, str] = {}
    names = {_sub_text(resources[lid].get("Properties", {}).get("Name")): lid for lid in machines}
    for lid, spec in resources.items():
        props = spec.get("Properties", {})
        if kinds[lid] in _TRIGGER_TYPES:
            if kinds[lid] == "AWS::Scheduler::Schedule":
                targets = _refs(props.get("Target", {}).get("Arn"))
                labels[lid] = f"{lid}<br/>{_text(_parameter_default(template, props.get('ScheduleExpression')))}"
            elif kinds[lid] == "AWS::Events::Rule":
                targets = _refs([t.get("Arn") for t in props.get("Targets", [])])
                labels[lid] = f"{lid}<br/>EventBridge rule"
            else:
                targets = _refs(props.get("Endpoint"))
                labels[lid] = f"{lid}<br/>SNS {_text(', '.join(sorted(_refs(props.get('TopicArn')))))}"
            edges |= {(lid, target) for target in targets if target in functions | machines}
        elif lid in functions:
            started = _refs(props.get("Environment")) | _refs(props.get("Policies")) | _started_by_name(props, names)
            edges |= {(lid, target) for target in started if target in machines}
        elif lid in machines:
            started = _refs(props.get("DefinitionSubstitutions"))
            edges |= {(lid, target) for target in started if target in machines and target != lid}
    lines = ["flowchart LR"]
    used = sorted({node for edge in edges for node in edge})
    for node in used:
        if node in machines:
            lines.append(f'  {node}[["{node}"]]')
        elif node in functions:
            lines.append(f'  {node}["{node}"]')
        else:
            lines.append(f'  {node}(["{labels.get(node, node)}"])')
    lines += [f"  {source} --> {target}" for source, target in sorted(edges)]
    return "\n".join(lines) + "\n"


def triggers_block(template_path: Path | None = None) -> str:
    from cpctl.sandbox.template import load_template

    path = template_path or REPO_ROOT / "template.yaml"
    text = triggers_mermaid(load_template(path))
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    return "\n".join(
        [
            BEGIN.format(logical_id=TRIGGERS, path=shown),
            "```mermaid",
            text.rstrip("\n"),
            "```",
            END.format(logical_id=TRIGGERS),
        ]
    )
