"""Regenerate tests/infra/data/terraform_modules.json and terraform_provider_aws.json.

The static Terraform tests check module inputs and provider arguments offline against these facts. Run
this when a module pin changes or a new resource type is used:

  # each module's source at the pinned tag (a git checkout of terraform-aws-modules/terraform-aws-<name>)
  python scripts/terraform_facts.py modules \\
      terraform-aws-modules/vpc/aws@6.6.0=/src/terraform-aws-vpc \\
      terraform-aws-modules/vpc/aws//modules/vpc-endpoints@6.6.0=/src/terraform-aws-vpc/modules/vpc-endpoints ...
  # the npm package @cdktf/provider-aws (npm pack, then tar x): generated bindings of the provider schema
  python scripts/terraform_facts.py provider /tmp/package
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO / "tests" / "infra" / "data"
MODULES_COMMENT = (
    "Inputs, outputs and facts of the community modules at the exact versions infra/terraform pins, read from "
    "each module's source at its git tag (variables.tf, outputs.tf; the attribute names of object-typed "
    "variables; versions.tf's constraints; for eks, the node group object's attributes and the lifecycle of "
    "modules/eks-managed-node-group's aws_eks_node_group) by scripts/terraform_facts.py. Regenerate when a pin "
    "changes: tests/infra/test_terraform_platform.py checks every module input against it."
)


def module_facts(key: str, source: Path) -> dict[str, object]:
    text = "".join(path.read_text() for path in sorted(source.glob("*.tf")))
    variables_tf = (source / "variables.tf").read_text()
    versions_tf = (source / "versions.tf").read_text()
    object_attributes: dict[str, list[str]] = {}
    for match in re.finditer(r'^variable "([A-Za-z0-9_]+)" \{\n(.*?)^\}', variables_tf, re.M | re.S):
        declared = re.search(
            r"^  type\s+=\s+(.*?)(?=^  (?:default|description|nullable|sensitive|validation)\b|\Z)",
            match.group(2),
            re.M | re.S,
        )
        if declared and "object(" in declared.group(1):
            object_attributes[match.group(1)] = sorted(set(re.findall(r"([A-Za-z0-9_]+)\s*=", declared.group(1))))
    facts: dict[str, object] = {
        "variables": sorted(set(re.findall(r'^variable "([A-Za-z0-9_]+)"', text, re.M))),
        "outputs": sorted(set(re.findall(r'^output "([A-Za-z0-9_]+)"', text, re.M))),
        "object_attributes": object_attributes,
        "required_version": re.search(r'required_version\s*=\s*"([^"]+)"', versions_tf).group(1),  # type: ignore[union-attr]
        "required_providers": dict(
            re.findall(r'(\w+)\s*=\s*\{\s*source\s*=\s*"hashicorp/\w+"\s*version\s*=\s*"([^"]+)"', versions_tf)
        ),
    }
    if key.startswith("terraform-aws-modules/eks/aws@"):
        start = variables_tf.index('variable "eks_managed_node_groups"')
        body = variables_tf[start : variables_tf.index("\n}\n", start)]
        facts["eks_managed_node_group_attributes"] = sorted(set(re.findall(r"^    ([a-z_0-9]+)\s+=", body, re.M)))
        main = (source / "modules" / "eks-managed-node-group" / "main.tf").read_text()
        begin = main.index('resource "aws_eks_node_group" "this"')
        block = main[begin : main.index("\nresource ", begin + 10)]
        ignored = re.search(r"ignore_changes = \[\n(.*?)\n\s*\]", block, re.S).group(1)  # type: ignore[union-attr]
        facts["aws_eks_node_group_ignore_changes"] = [
            line.strip().rstrip(",") for line in ignored.splitlines() if line.strip()
        ]
    return facts


def write_modules(pairs: list[str]) -> None:
    modules = {}
    for pair in pairs:
        key, _, path = pair.partition("=")
        modules[key] = module_facts(key, Path(path))
    document = {"_comment": MODULES_COMMENT, "modules": modules}
    (DATA / "terraform_modules.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


def write_provider(package: Path) -> None:
    from tests.infra import terraform_hcl as tf

    version = ""
    facts: dict[str, dict[str, object]] = {}
    blocks = [block for directory in tf.all_module_dirs() for block in tf.blocks(directory)]
    used = sorted({(b.kind, b.type) for b in blocks if b.kind in ("resource", "data")})
    for kind, type_ in used:
        if not type_.startswith("aws_"):
            continue
        name = type_.removeprefix("aws_")
        folder = name.replace("_", "-") if kind == "resource" else "data-aws-" + name.replace("_", "-")
        text = (package / "lib" / folder / "index.d.ts").read_text()
        found = re.search(r"hashicorp/aws/([\d.]+)/docs", text)
        version = found.group(1) if found else version
        pattern = r"docs/(?:resources|data-sources)/" + re.escape(name) + r"#([a-z0-9_]+) "
        getters = re.findall(r"get ([a-zA-Z0-9]+)\(\)", text)
        entry: dict[str, object] = {
            "arguments": sorted(set(re.findall(pattern, text))),
            "attributes": sorted({re.sub(r"(?<!^)([A-Z])", r"_\1", g).lower() for g in getters}),
        }
        if type_ == "aws_wafv2_web_acl":
            entry["opaque_blocks"] = ["statement"]  # typed `any` in the bindings (recursive statements)
        facts[type_ if kind == "resource" else f"data.{type_}"] = entry
    package_version = json.loads((package / "package.json").read_text())["version"]
    document = {
        "_comment": (
            f"Argument and attribute names of the hashicorp/aws resources and data sources infra/terraform uses, "
            f"from the provider schema {version} as the npm package @cdktf/provider-aws {package_version} "
            "publishes it (lib/<type>/index.d.ts: the argument links to the provider docs, nested blocks included "
            "and flattened; the attribute getters), by scripts/terraform_facts.py. infra/terraform pins a later "
            "6.x: within major 6 an argument is still there. opaque_blocks: blocks the bindings type as `any`, "
            "whose contents are not checked."
        ),
        "provider": f"hashicorp/aws {version}",
        "types": facts,
    }
    (DATA / "terraform_provider_aws.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("modules").add_argument("pairs", nargs="+", help="<source>@<version>=<path to its checkout>")
    sub.add_parser("provider").add_argument("package", type=Path, help="unpacked @cdktf/provider-aws package")
    args = parser.parse_args()
    if args.what == "modules":
        write_modules(args.pairs)
    else:
        write_provider(args.package)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
