"""Run checkov on infra/terraform and template.yaml from its own virtualenv, and fail on any finding.

checkov bundles a fork of hcl2 that breaks python-hcl2 (which the sandbox and the Terraform tests use),
so it lives in `.venv-checkov`, created here with the pinned version and `constraints-checkov.txt`, and
runs as a subprocess with `--skip-download` (no call to its vendor's API). A finding is accepted only as
an inline skip with a reason: `#checkov:skip=CKV_...:reason` in HCL, `Metadata: checkov: skip:` with a
`comment` in the template. Registry modules are not downloaded offline, so checkov reads the root module
and the local modules; the static tests in tests/infra check the module calls.

    python -m cpctl.tools.checkov            # install if needed, scan, print a summary; exit 1 on findings
    python -m cpctl.tools.checkov --json     # the same, the results as JSON
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKOV_VERSION = "3.3.30"
VENV_DIR = REPO_ROOT / ".venv-checkov"
CONSTRAINTS = REPO_ROOT / "constraints-checkov.txt"
LOCK_FILE = REPO_ROOT / ".venv-checkov.lock"
# Minimum words of a skip's reason: an id alone, or "false positive", is not a reason.
MIN_REASON_WORDS = 5


@dataclass(frozen=True)
class Target:
    """One scan: a directory or a file, and the checkov framework that reads it."""

    name: str
    args: tuple[str, ...]


TARGETS = (
    Target("terraform", ("-d", "infra/terraform", "--framework", "terraform")),
    # checkov reads SAM's AWS::Serverless::* resources with its CloudFormation framework.
    Target("template", ("-f", "template.yaml", "--framework", "cloudformation")),
)


@dataclass
class ScanResult:
    target: str
    resources: int = 0
    passed: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    parsing_errors: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = [
            f"{self.target}: {check['check_id']} {check['resource']} ({check.get('file_path', '')}): "
            f"{check['check_name']}"
            for check in self.failed
        ]
        found += [f"{self.target}: cannot parse {path}" for path in self.parsing_errors]
        for check in self.skipped:
            reason = suppress_comment(check)
            if len(reason.split()) < MIN_REASON_WORDS:
                found.append(f"{self.target}: skip of {check['check_id']} on {check['resource']} gives no reason")
        if self.resources == 0:
            found.append(f"{self.target}: checkov scanned no resource")
        return found


def suppress_comment(check: dict[str, Any]) -> str:
    return str(check.get("check_result", {}).get("suppress_comment") or "")


def checkov_bin() -> Path:
    return VENV_DIR / "bin" / "checkov"


def installed_version() -> str | None:
    binary = checkov_bin()
    if not binary.exists():
        return None
    result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_installed() -> Path:
    """Create .venv-checkov with the pinned checkov unless it is there already (one process at a time:
    pytest-xdist workers may ask together)."""
    if installed_version() == CHECKOV_VERSION:
        return checkov_bin()
    with LOCK_FILE.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed_version() == CHECKOV_VERSION:
            return checkov_bin()
        _install()
    return checkov_bin()


def _install() -> None:
    python = os.environ.get("CHECKOV_PYTHON")
    if python:
        subprocess.run([python, "-m", "venv", "--clear", str(VENV_DIR)], check=True)
    else:
        venv.EnvBuilder(clear=True, with_pip=True).create(VENV_DIR)
    pip = [str(VENV_DIR / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    print(f"installing checkov {CHECKOV_VERSION} into {VENV_DIR.name}", file=sys.stderr)
    installing = subprocess.run(
        [*pip, "install", "-c", str(CONSTRAINTS), f"checkov=={CHECKOV_VERSION}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if installing.returncode != 0:
        raise RuntimeError(f"pip install checkov=={CHECKOV_VERSION} failed: {installing.stderr[-3000:]}")
    version = installed_version()
    if version != CHECKOV_VERSION:
        raise RuntimeError(f"{VENV_DIR}: checkov {version!r} installed, {CHECKOV_VERSION} expected")


def _reports(output: str) -> list[dict[str, Any]]:
    # One framework gives an object, several a list; an empty scan gives the summary object alone.
    data = json.loads(output)
    return data if isinstance(data, list) else [data]


def scan(target: Target, binary: Path | None = None) -> ScanResult:
    binary = binary or ensure_installed()
    command = [str(binary), *target.args, "--skip-download", "--output", "json", "--compact"]
    # Never reach the vendor's platform (no key is set, and --skip-download skips its metadata).
    environment = {**os.environ, "BC_API_KEY": "", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"}
    completed = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, check=False, env=environment, timeout=900
    )
    # checkov exits 1 when a check fails: the JSON report decides, not the exit code.
    if completed.returncode not in (0, 1) or not completed.stdout.strip():
        raise RuntimeError(f"checkov {target.name} exited {completed.returncode}: {completed.stderr[-2000:]}")
    result = ScanResult(target.name)
    for report in _reports(completed.stdout):
        summary = report.get("summary", report)
        result.resources += int(summary.get("resource_count", 0))
        result.passed += int(summary.get("passed", 0))
        results = report.get("results", {})
        result.failed += results.get("failed_checks", [])
        result.skipped += results.get("skipped_checks", [])
        result.parsing_errors += results.get("parsing_errors", [])
        if int(summary.get("parsing_errors", 0)) and not results.get("parsing_errors"):
            result.parsing_errors.append(f"{summary['parsing_errors']} file(s)")
    return result


def run_all() -> list[ScanResult]:
    binary = ensure_installed()
    return [scan(target, binary) for target in TARGETS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    results = run_all()
    problems = [problem for result in results for problem in result.problems]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "target": r.target,
                        "resources": r.resources,
                        "passed": r.passed,
                        "failed": [c["check_id"] for c in r.failed],
                        "skipped": [{"id": c["check_id"], "reason": suppress_comment(c)} for c in r.skipped],
                        "problems": r.problems,
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    else:
        for r in results:
            print(
                f"checkov {CHECKOV_VERSION} {r.target}: {r.resources} resources, {r.passed} passed, "
                f"{len(r.failed)} failed, {len(r.skipped)} skipped with a reason"
            )
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
