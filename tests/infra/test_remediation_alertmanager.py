"""Alertmanager's route to the control plane: the SNS message is valid JSON for any label value, the
severity attribute is never empty, the subject is one SNS accepts, and the entry point reads it back.

No Go toolchain is available here, so the templates are executed by a small interpreter of the Go
text/template subset they use (below). It follows Go where it matters and refuses everything else:
a field that Alertmanager's template data does not have is an error (as Go's "can't evaluate
field"), missing map keys are empty (Alertmanager's missingkey=zero), and the functions are
Alertmanager's own (template/template.go DefaultFuncs: toJson is Go's json.Marshal, reReplaceAll
is regexp.ReplaceAllString) plus Go's builtins (len, or, printf). A construct it does not know
fails the test instead of being guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from controlplane.remediation.events import Signal, signals_of

from tests.conftest import REPO

ALERTMANAGER = REPO / "infra" / "monitoring" / "alertmanager"


class Struct(dict[str, Any]):
    """A Go struct: a field it does not have is an execution error (maps answer "" instead)."""

    def __init__(self, type_name: str, **fields: Any) -> None:
        super().__init__(fields)
        self.type_name = type_name


class TemplateError(Exception):
    pass


# --- Go values as Alertmanager's functions see them ----------------------------------------------


def go_json(value: Any) -> str:
    """encoding/json.Marshal: HTML-safe escaping, sorted map keys, time.Time as RFC 3339."""
    if isinstance(value, str):
        out = ['"']
        for ch in value:
            code = ord(ch)
            if ch in '"\\':
                out.append("\\" + ch)
            elif ch in "\n\r\t":
                out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
            elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
                out.append(f"\\u{code:04x}")
            else:
                out.append(ch)
        return "".join(out) + '"'
    if isinstance(value, datetime):
        return go_json(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))
    if isinstance(value, dict):
        return "{" + ",".join(f"{go_json(k)}:{go_json(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise TemplateError(f"toJson of {type(value).__name__} is not modelled")


def go_quote(value: str) -> str:
    """strconv.Quote (printf "%q"): Go escapes such as \\a and \\x01, which JSON does not know."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = ['"']
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in named:
            out.append(named[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def go_printf(fmt: str, *args: Any) -> str:
    if fmt != "%q" or len(args) != 1:
        raise TemplateError(f"printf {fmt!r} is not modelled")
    return go_quote(str(args[0]))


def go_replace_all(pattern: str, repl: str, text: str) -> str:
    # RE2 and Python agree on the patterns used here; $1 is Go's group reference.
    return re.sub(pattern, re.sub(r"\$(\d+)", r"\\\1", repl), text)


def go_truth(value: Any) -> bool:
    return bool(value)


FUNCTIONS: dict[str, Any] = {
    "toJson": go_json,
    "toUpper": lambda s: s.upper(),
    "len": len,
    "or": lambda *args: next((a for a in args if go_truth(a)), args[-1]),
    "reReplaceAll": go_replace_all,
    "printf": go_printf,
}


# --- the text/template subset ----------------------------------------------------------------------

ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
TOKEN = re.compile(
    r'\s*("(?:[^"\\]|\\.)*"'  # a string literal
    r"|\(|\)|\||:=|,"  # punctuation
    r"|\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"  # $variable.Field
    r"|\.[A-Za-z0-9_.]*"  # .Field.Field
    r"|[A-Za-z_][A-Za-z0-9_]*|\d+)"  # function name, number
)


@dataclass
class Node:
    kind: str  # text, action, range, if, define, template
    text: str = ""
    args: str = ""
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


def _pieces(source: str) -> list[tuple[str, str]]:
    """Text and action pieces, with Go's trim markers applied to the text around them."""
    pieces: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    for match in ACTION.finditer(source):
        text = source[pos : match.start()]
        text = text.lstrip() if trim_next else text
        pieces.append(("text", text.rstrip() if match.group(1) else text))
        body = match.group(2).strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            pieces.append(("action", body))
        trim_next, pos = bool(match.group(3)), match.end()
    tail = source[pos:]
    pieces.append(("text", tail.lstrip() if trim_next else tail))
    return pieces


def parse(source: str) -> list[Node]:
    """Pieces nested into range/if/define blocks."""
    root: list[Node] = []
    stack: list[Node] = []
    current = root
    for kind, value in _pieces(source):
        word, _, rest = value.partition(" ")
        if kind == "text":
            current.extend([Node("text", text=value)] if value else [])
        elif word in {"range", "if", "define"}:
            node = Node(word, args=rest.strip())
            current.append(node)
            stack.append(node)
            current = node.body
        elif word == "else":
            current = stack[-1].orelse
        elif word == "end":
            stack.pop()
            current = stack[-1].body if stack else root
        else:
            current.append(Node("template", args=rest.strip()) if word == "template" else Node("action", args=value))
    if stack:
        raise TemplateError(f"unclosed {stack[-1].kind}")
    return root


class Engine:
    def __init__(self, sources: list[str]) -> None:
        self.defined: dict[str, list[Node]] = {}
        for source in sources:
            for node in parse(source):
                if node.kind == "define":
                    self.defined[json.loads(node.args)] = node.body

    def execute(self, text: str, data: Any) -> str:
        return self._run(parse(text), data, {"$": data})

    def _run(self, nodes: list[Node], dot: Any, scope: dict[str, Any]) -> str:
        out: list[str] = []
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                out.append(self._str(self._pipeline(node.args, dot, scope)))
            elif node.kind == "template":
                name, _, arg = node.args.partition(" ")
                out.append(self._run(self.defined[json.loads(name)], self._pipeline(arg, dot, scope), scope))
            elif node.kind == "if":
                branch = node.body if go_truth(self._pipeline(node.args, dot, scope)) else node.orelse
                out.append(self._run(branch, dot, scope))
            elif node.kind == "range":
                names, _, pipeline = node.args.partition(":=")
                index_var, element_var = (n.strip() for n in names.split(","))
                items = self._pipeline(pipeline, dot, scope)
                for index, item in enumerate(items):
                    out.append(self._run(node.body, item, {**scope, index_var: index, element_var: item}))
            else:
                raise TemplateError(f"{node.kind} is not modelled")
        return "".join(out)

    @staticmethod
    def _str(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, int):
            return str(value)
        raise TemplateError(f"printing a {type(value).__name__} is not modelled")

    def _pipeline(self, text: str, dot: Any, scope: dict[str, Any]) -> Any:
        tokens = list(TOKEN.findall(text))
        if "".join(tokens).replace(" ", "") != text.replace(" ", "").replace("\n", ""):
            raise TemplateError(f"cannot tokenize {text!r}")
        value, rest = self._commands(tokens, dot, scope)
        if rest:
            raise TemplateError(f"left over in {text!r}: {rest}")
        return value

    def _commands(self, tokens: list[str], dot: Any, scope: dict[str, Any]) -> tuple[Any, list[str]]:
        value, tokens = self._command(tokens, dot, scope, None)
        while tokens and tokens[0] == "|":
            value, tokens = self._command(tokens[1:], dot, scope, value)
        return value, tokens

    def _command(self, tokens: list[str], dot: Any, scope: dict[str, Any], piped: Any) -> tuple[Any, list[str]]:
        head, tokens = tokens[0], tokens[1:]
        if head in FUNCTIONS:
            args: list[Any] = []
            while tokens and tokens[0] not in {"|", ")"}:
                arg, tokens = self._operand(tokens, dot, scope)
                args.append(arg)
            if piped is not None:
                args.append(piped)
            return FUNCTIONS[head](*args), tokens
        if piped is not None:
            raise TemplateError(f"cannot pipe into {head}")
        return self._operand([head, *tokens], dot, scope)

    def _operand(self, tokens: list[str], dot: Any, scope: dict[str, Any]) -> tuple[Any, list[str]]:
        head, tokens = tokens[0], tokens[1:]
        if head == "(":
            value, tokens = self._commands(tokens, dot, scope)
            if not tokens or tokens[0] != ")":
                raise TemplateError("unbalanced parenthesis")
            return value, tokens[1:]
        if head.startswith('"'):
            return json.loads(head), tokens
        if head.isdigit():
            return int(head), tokens
        if head.startswith("$"):
            name, *path = head.split(".")
            return self._fields(scope[name], path), tokens
        if head.startswith("."):
            return self._fields(dot, [p for p in head.split(".") if p]), tokens
        raise TemplateError(f"unknown function or operand {head!r}")

    @staticmethod
    def _fields(value: Any, path: list[str]) -> Any:
        for name in path:
            if isinstance(value, Struct):
                if name not in value:
                    raise TemplateError(f"can't evaluate field {name} in type *template.{value.type_name}")
                value = value[name]
            elif isinstance(value, dict):
                value = value.get(name, "")
            else:
                raise TemplateError(f"can't evaluate field {name} in a {type(value).__name__}")
        return value


# --- Alertmanager's template data (template.Data, template.Alert) ----------------------------------


def alert(labels: dict[str, str], annotations: dict[str, str] | None = None, status: str = "firing") -> Struct:
    return Struct(
        "Alert",
        Status=status,
        Labels=labels,
        Annotations=annotations or {},
        StartsAt=datetime(2026, 11, 26, 9, 10, 0, 123000, tzinfo=UTC),
        EndsAt=datetime(1, 1, 1, tzinfo=UTC),
        GeneratorURL="http://prometheus:9090/graph",
        Fingerprint="a1b2c3d4e5f60718",
    )


def data(*alerts: Struct) -> Struct:
    common = dict(alerts[0]["Labels"])
    for other in alerts[1:]:
        common = {k: v for k, v in common.items() if other["Labels"].get(k) == v}
    return Struct(
        "Data",
        Receiver="controlplane-sns",
        Status="firing" if any(a["Status"] == "firing" for a in alerts) else "resolved",
        Alerts=list(alerts),
        NotificationReason="",
        GroupLabels={"alertname": common.get("alertname", "")},
        CommonLabels=common,
        CommonAnnotations={},
        RouteLabels={},
        ExternalURL="http://alertmanager:9093",
    )


def receiver() -> dict[str, Any]:
    config = yaml.safe_load((ALERTMANAGER / "alertmanager.yml").read_text())
    [sns] = next(r for r in config["receivers"] if r["name"] == "controlplane-sns")["sns_configs"]
    return dict(sns)


def engine() -> Engine:
    return Engine([path.read_text() for path in sorted((ALERTMANAGER / "templates").glob("*.tmpl"))])


HOSTILE = [
    'quote " and backslash \\ and {"json": true}',
    "line\nbreak\rreturn\ttab",
    "bell \a backspace \b formfeed \f vertical \v escape \x1b null \x00 delete \x7f",
    "<script>alert('x')</script> & friends",
    "line separator \u2028 paragraph separator \u2029",
    "emoji 🚨 and accents é ü ß and CJK 漢字",
    "%q %s {{ .Status }} $1 \\u0041",
    "",
]


def publish(message: str, attributes: dict[str, str]) -> dict[str, Any]:
    """The Lambda event SNS delivers for what Alertmanager published."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "MessageId": "m-1",
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:sip-controlplane-notify-dev",
                    "Message": message,
                    "MessageAttributes": {k: {"Type": "String", "Value": v} for k, v in attributes.items()},
                },
            }
        ]
    }


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_the_message_is_valid_json_for_any_label_or_annotation_value(value: str) -> None:
    sns, templates = receiver(), engine()
    first = alert({"alertname": "HighErrorRate", "severity": "critical", "path": value}, {"summary": value})
    second = alert({"alertname": "HighErrorRate", "severity": "warning", value or "empty": "x"}, status="resolved")
    second["Fingerprint"] = "b1b2c3d4e5f60718"
    message = templates.execute(sns["message"], data(first, second))
    body = json.loads(message)
    assert body["alerts"][0]["labels"]["path"] == value and body["alerts"][0]["annotations"]["summary"] == value
    attributes = {k: templates.execute(v, data(first, second)) for k, v in sns["attributes"].items()}
    signals = signals_of(publish(message, attributes))
    assert [type(s).__name__ for s in signals] == ["Signal", "Signal"]
    firing, resolved = signals
    assert isinstance(firing, Signal) and isinstance(resolved, Signal)
    assert (firing.state, resolved.state) == ("ALARM", "OK")
    assert firing.labels["path"] == value and firing.reason == value[:300]


def test_a_group_of_one_alert_and_of_many_is_valid_json() -> None:
    templates, message = engine(), receiver()["message"]
    for count in (1, 3, 50):
        alerts = [alert({"alertname": "HighErrorRate", "n": str(n)}) for n in range(count)]
        assert len(json.loads(templates.execute(message, data(*alerts)))["alerts"]) == count


@pytest.mark.parametrize(
    ("severities", "expected"),
    [(["critical", "critical"], "critical"), (["critical", "warning"], "unspecified"), ([None], "unspecified")],
)
def test_the_severity_attribute_is_never_empty(severities: list[str | None], expected: str) -> None:
    """SNS refuses a message attribute with an empty value; the alerts of one group may share none."""
    alerts = [alert({"alertname": "HighErrorRate"} | ({"severity": s} if s else {})) for s in severities]
    attributes = receiver()["attributes"]
    assert attributes["source"] == "alertmanager"
    assert engine().execute(attributes["severity"], data(*alerts)) == expected


@pytest.mark.parametrize("name", ["HighErrorRate", "Ü" * 40 + "\n" + "x" * 300])
def test_the_subject_is_printable_ascii_under_100_characters(name: str) -> None:
    """SNS: subjects "must be ASCII text that begins with a letter, number, or punctuation mark; must
    not include line breaks or control characters; and must be less than 100 characters long." """
    subject = engine().execute(receiver()["subject"], data(alert({"alertname": name})))
    assert subject.startswith("[FIRING:1] ") and len(subject) < 100
    assert all(" " <= ch <= "~" for ch in subject)


def test_every_value_the_message_writes_goes_through_to_json() -> None:
    """The escaping rule, checked on the template text: any action in the message that prints a value
    is a toJson call (a range, an if, a separator or the define itself prints none)."""
    source = (ALERTMANAGER / "templates" / "controlplane.tmpl").read_text()
    block = source[source.index('define "controlplane.sns.json"') : source.index('define "controlplane.sns.subject"')]
    actions = [a.strip(" -") for a in re.findall(r"\{\{(.*?)\}\}", block, re.DOTALL)]
    printing = [a for a in actions if not re.match(r"(range|if|end|else|define|/\*)", a)]
    assert printing and all(a.startswith("toJson ") for a in printing), printing


def test_go_string_quoting_is_not_json() -> None:
    """Why toJson: printf "%q" (Go string syntax) writes \\a, \\v and \\x1b, which JSON rejects."""
    with pytest.raises(json.JSONDecodeError):
        json.loads(go_quote("bell \a"))
    assert json.loads(go_json("bell \a escape \x1b")) == "bell \a escape \x1b"


def test_a_field_alertmanager_does_not_have_fails_the_rendering() -> None:
    """Go's text/template fails on a struct field that does not exist (``.GroupKey`` is a webhook field,
    not one of the template data's), so such a template sends no notification at all."""
    with pytest.raises(TemplateError, match="can't evaluate field GroupKey"):
        engine().execute("{{ toJson .GroupKey }}", data(alert({"alertname": "A"})))
