"""Cold import time of every handler, next to a bare handler that imports boto3 and makes one client.

Each figure is the median of several fresh interpreters (what a Lambda cold start pays for imports).
Printed, not asserted: the machine's speed varies.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYER = REPO / "layers" / "common" / "python"
RUNS = int(os.environ.get("BENCH_IMPORT_RUNS", "5"))

MEASURE = """
import sys, time
sys.path[:0] = [{layer!r}, {code!r}]
start = time.perf_counter()
{body}
print(time.perf_counter() - start)
"""
BARE = "import boto3\nboto3.client('dynamodb', region_name='us-east-1')"


def _time(code_dir: Path, body: str) -> float:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "controlplane"}
    script = MEASURE.format(layer=str(LAYER), code=str(code_dir), body=body)
    samples = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> None:
    print(f"Cold import, median of {RUNS} fresh interpreters ({sys.version.split()[0]})")
    bare = _time(REPO, BARE)
    print(f"  {'bare: import boto3 + one client':<40} {bare * 1000:7.1f} ms")
    for app in sorted((REPO / "functions").glob("*/app.py")):
        seconds = _time(app.parent, "import app")
        print(f"  {app.parent.name:<40} {seconds * 1000:7.1f} ms  ({seconds / bare:4.1f}x bare)")


if __name__ == "__main__":
    main()
