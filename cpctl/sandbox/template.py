"""Reading ``template.yaml`` the way CloudFormation would, enough to deploy it into moto.

Resolves the intrinsics the template uses (Ref, Fn::GetAtt, Fn::Sub, Fn::If,
Fn::Equals, Fn::Not, Fn::Join, Fn::Select, Fn::Split) against parameters,
pseudo parameters, conditions and the attributes of resources already created.
An intrinsic it does not know is an error, not a silent pass-through.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

_SUB = re.compile(r"\$\{([A-Za-z0-9_:.]+)\}")


class TemplateError(Exception):
    """The template cannot be deployed into the sandbox as written."""


def load_template(path: Path) -> dict[str, Any]:
    template, matches = decode_str(path.read_text())
    if matches or template is None:
        raise TemplateError(f"{path} does not parse: {[str(m) for m in matches]}")
    return dict(template)


@dataclass
class Resolver:
    template: dict[str, Any]
    parameters: dict[str, str]
    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "sip-controlplane-sandbox"
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    # Resolves ``AWS::SSM::Parameter::Value<String>`` parameters (their value is a parameter name).
    ssm_lookup: Callable[[str], str] | None = None

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters", {})
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in self.parameters:
                values[name] = str(self.parameters[name])
            elif "Default" in spec:
                values[name] = str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no value and no default")
            allowed = spec.get("AllowedValues")
            if allowed and values[name] not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={values[name]!r} is not one of {allowed}")
            self._check_constraints(name, spec, values[name])
            if str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
                if self.ssm_lookup is None:
                    raise TemplateError(f"parameter {name} is an SSM parameter and nothing resolves it")
                values[name] = self.ssm_lookup(values[name])
        unknown = set(self.parameters) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameters {sorted(unknown)}")
        self.parameters = values
        for name, expression in self.template.get("Conditions", {}).items():
            self.conditions[name] = bool(self.resolve(expression))

    @staticmethod
    def _check_constraints(name: str, spec: dict[str, Any], value: str) -> None:
        """AllowedPattern, Min/MaxLength and Min/MaxValue, as CloudFormation checks them before deploying."""
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(str(pattern), value):
            raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            raise TemplateError(f"parameter {name} is longer than {spec['MaxLength']}")
        if spec.get("Type") == "Number":
            number = float(value)
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise TemplateError(f"parameter {name}={value} is below its MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise TemplateError(f"parameter {name}={value} is above its MaxValue {spec['MaxValue']}")

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            declared = self.template.get("Parameters", {}).get(name, {})
            if declared.get("Type") == "CommaDelimitedList":
                return [item.strip() for item in self.parameters[name].split(",")]
            return self.parameters[name]
        pseudo = self.pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.attributes and "Ref" in self.attributes[name]:
            return self.attributes[name]["Ref"]
        raise TemplateError(f"Ref {name} is not resolvable (not created yet?)")

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[logical_id][attribute]
        except KeyError:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not resolvable") from None

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in variables:
                return str(self.resolve(variables[token]))
            if "." in token:
                logical_id, attribute = token.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(token))

        return _SUB.sub(replace, text)

    def resolve(self, value: Any) -> Any:  # noqa: C901, PLR0911, PLR0912
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                parts = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return self.get_att(parts[0], parts[1])
            if key == "Fn::Sub":
                if isinstance(argument, list):
                    return self._sub(argument[0], argument[1])
                return self._sub(argument, {})
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.conditions[name] else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(argument[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in argument)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in argument)
            if key == "Condition":
                return self.conditions[argument]
            if key == "Fn::Join":
                return str(argument[0]).join(str(self.resolve(a)) for a in self.resolve(argument[1]))
            if key == "Fn::Select":
                return self.resolve(argument[1])[int(self.resolve(argument[0]))]
            if key == "Fn::Split":
                return str(self.resolve(argument[1])).split(argument[0])
            if key.startswith("Fn::"):
                raise TemplateError(f"the sandbox does not resolve {key}")
        return {key: self.resolve(item) for key, item in value.items()}


def substitute_definition(definition: str, substitutions: dict[str, str]) -> str:
    """Fill ``${Key}`` placeholders as Step Functions does; a placeholder left over is an error."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in substitutions:
            raise TemplateError(f"DefinitionSubstitutions has no {key}")
        return str(substitutions[key])

    filled = _SUB.sub(replace, definition)
    leftover = _SUB.findall(filled)
    if leftover:
        raise TemplateError(f"placeholders left after substitution: {leftover}")
    return filled


def task_functions(template: dict[str, Any], state_machine: str, root: Path) -> dict[str, str]:
    """State name -> logical id of the function each Lambda task of ``state_machine`` invokes.

    Read from the ASL file (``DefinitionUri`` under ``root``) and ``DefinitionSubstitutions``, so a
    tool or test that wants "the function behind the Plan step" follows the template as it is today.
    Covers ``"Resource": "${FnArn}"`` and ``arn:aws:states:::lambda:invoke`` with ``FunctionName``,
    in nested Parallel branches and Map iterators too.
    """
    import json

    properties = template["Resources"][state_machine]["Properties"]
    substitutions = properties.get("DefinitionSubstitutions", {})
    definition = json.loads((root / str(properties["DefinitionUri"])).read_text())

    def function_of(value: Any) -> str | None:
        match = _SUB.fullmatch(value) if isinstance(value, str) else None
        target = substitutions.get(match.group(1)) if match else None
        if isinstance(target, dict) and len(target) == 1:
            ((kind, argument),) = target.items()
            if kind == "Fn::GetAtt":
                return str(argument[0] if isinstance(argument, list) else str(argument).split(".")[0])
            if kind == "Ref":
                return str(argument)
        return None

    found: dict[str, str] = {}

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            if state.get("Type") == "Task":
                resource = state.get("Resource", "")
                target = state.get("Parameters", {}).get("FunctionName") if ":lambda:invoke" in resource else resource
                logical_id = function_of(target)
                if logical_id:
                    found[name] = logical_id
            for branch in state.get("Branches", []):
                walk(branch.get("States", {}))
            for key in ("Iterator", "ItemProcessor"):
                if key in state:
                    walk(state[key].get("States", {}))

    walk(definition["States"])
    return found
