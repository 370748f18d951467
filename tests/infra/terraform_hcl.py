"""The Terraform of infra/terraform read with python-hcl2, for static tests (no terraform binary here).

Blocks come out as `Block`s (kind, type, name, body, file) so that tests can ask "every resource of type
X" or "every module call" across files; `refs` finds the references (`var.x`, `module.m.o`) in a body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

from tests.conftest import REPO

TERRAFORM = REPO / "infra" / "terraform"
CONFIG = TERRAFORM / "config"
ENVIRONMENTS = ("dev", "staging", "prod")
MODULE_FACTS = json.loads((Path(__file__).parent / "data" / "terraform_modules.json").read_text())["modules"]
PROVIDER_FACTS = json.loads((Path(__file__).parent / "data" / "terraform_provider_aws.json").read_text())["types"]

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def parse(path: Path) -> dict[str, Any]:
    return dict(hcl2.loads(path.read_text(), serialization_options=_OPTIONS))


@dataclass(frozen=True)
class Block:
    kind: str  # resource, data, module, variable, output, provider, locals, terraform
    type: str  # resource/data type; "" for the others
    name: str
    body: dict[str, Any]
    file: Path

    @property
    def address(self) -> str:
        return ".".join(part for part in (self.kind, self.type, self.name) if part)


def _blocks(path: Path) -> Iterator[Block]:
    document = parse(path)
    for kind in ("resource", "data"):
        for entry in document.get(kind, []):
            for type_, named in entry.items():
                for name, body in named.items():
                    yield Block(kind, type_, name, body, path)
    for kind in ("module", "variable", "output"):
        for entry in document.get(kind, []):
            for name, body in entry.items():
                yield Block(kind, "", name, body, path)
    for entry in document.get("provider", []):
        for name, body in entry.items():
            yield Block("provider", "", f"{name}.{body.get('alias', 'default')}", body, path)
    for entry in document.get("locals", []):
        yield Block("locals", "", "", entry, path)
    for entry in document.get("terraform", []):
        yield Block("terraform", "", "", entry, path)


@cache
def blocks(directory: Path = TERRAFORM) -> tuple[Block, ...]:
    """Every block of one module directory (not its sub-directories)."""
    return tuple(block for path in sorted(directory.glob("*.tf")) for block in _blocks(path))


def local_module_dirs() -> list[Path]:
    return sorted(path for path in (TERRAFORM / "modules").iterdir() if path.is_dir())


def all_module_dirs() -> list[Path]:
    return [TERRAFORM, *local_module_dirs()]


def of_kind(kind: str, directory: Path = TERRAFORM) -> list[Block]:
    return [block for block in blocks(directory) if block.kind == kind]


def resources(type_: str | None = None, directory: Path | None = None) -> list[Block]:
    """Resources of one type (or all), in the root and the local modules unless a directory is given."""
    directories = [directory] if directory else all_module_dirs()
    return [
        block
        for path in directories
        for block in blocks(path)
        if block.kind == "resource" and (type_ is None or block.type == type_)
    ]


def resource(type_: str, name: str) -> Block:
    matches = [block for block in resources(type_) if block.name == name]
    assert len(matches) == 1, f"{type_}.{name}: {len(matches)} definitions"
    return matches[0]


def module(name: str) -> Block:
    matches = [block for block in of_kind("module") if block.name == name]
    assert len(matches) == 1, f"module.{name}: {len(matches)} definitions"
    return matches[0]


def locals_(directory: Path = TERRAFORM) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in of_kind("locals", directory):
        merged.update(block.body)
    return merged


def is_registry(block: Block) -> bool:
    return not str(block.body["source"]).startswith("./")


def registry_key(block: Block) -> str:
    return f"{block.body['source']}@{block.body['version']}"


def is_exact_version(version: str) -> bool:
    return bool(_SEMVER.match(version))


def text(value: Any) -> str:
    """A body (or part of one) as one string, to search for references."""
    return json.dumps(value)


def refs(value: Any, prefix: str) -> set[str]:
    """Names referenced as `<prefix>.<name>` (var, local, module) anywhere in a value."""
    return set(re.findall(rf"(?<![\w.]){re.escape(prefix)}\.([A-Za-z0-9_-]+)", text(value)))


def module_output_refs(value: Any) -> set[tuple[str, str]]:
    return set(re.findall(r"(?<![\w.])module\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)", text(value)))


RESOURCE_META_ARGUMENTS = {"provider", "count", "for_each", "lifecycle", "depends_on"}


def argument_names(body: dict[str, Any], opaque: frozenset[str] = frozenset()) -> set[str]:
    """Argument and nested block names used in a resource body, at any depth (dynamic blocks included);
    map arguments (tags, ...) count as one name, and so do the `opaque` blocks whatever they hold."""
    names: set[str] = set()
    for key, value in body.items():
        if key in RESOURCE_META_ARGUMENTS:
            continue
        if key in opaque:
            names.add(key)
            continue
        if key == "dynamic":
            for entry in value:
                for block_name, spec in entry.items():
                    names.add(block_name)
                    for content in spec.get("content", []):
                        names |= argument_names(content, opaque)
            continue
        names.add(key)
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for item in value:
                names |= argument_names(item, opaque)
    return names


def resource_attribute_refs(value: Any) -> set[tuple[str, str, str]]:
    """(type, name, attribute) of every `aws_<type>.<name>.<attribute>` and `data.aws_...` reference."""
    found = re.findall(r"(?<![\w.])((?:data\.)?aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)", text(value))
    return set(found)


def ignore_changes(block: Block) -> set[str]:
    ignored: set[str] = set()
    for lifecycle in block.body.get("lifecycle", []):
        for item in lifecycle.get("ignore_changes", []):
            ignored.add(str(item).removeprefix("${").removesuffix("}"))
    return ignored


def tfvars(environment: str) -> dict[str, Any]:
    return parse(CONFIG / f"{environment}.tfvars")


def backend(environment: str) -> dict[str, Any]:
    return parse(CONFIG / f"backend-{environment}.hcl")


def substitute(value: str, variables: dict[str, Any], local_values: dict[str, Any] | None = None) -> str:
    """Resolve `${var.x}` and `${local.y}` (recursively) in a string, as plan would for these simple cases."""
    local_values = local_values or {}

    def one(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "var":
            return str(variables[name])
        return substitute(str(local_values[name]), variables, local_values)

    return re.sub(r"\$\{(var|local)\.([A-Za-z0-9_]+)\}", one, value)
