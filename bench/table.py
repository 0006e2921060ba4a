"""The closing table of `make bench`: each target of the quality document, its floor and
Cachet's figure from the same run, the ratio, pass or miss.

Each benchmark calls `record(...)` for the targets it measures; the results go to one JSON
line each in BENCH_RESULTS (default /tmp/cachet-bench-results.jsonl, emptied by `make bench`
before the first benchmark). `python -m bench.table` prints them; a target no benchmark
recorded is shown as not measured.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

TARGETS = {
    "P1": "signing job, 1 MB PDF, vs the fast pyHanko path (<= 1.3x)",
    "P2": "worst API stall while signing (< 50 ms)",
    "P3": "15 MB upload vs the in-process floor (<= 2x)",
    "P4": "RSS added by 4 concurrent 15 MB uploads (< 40 MiB)",
    "P5": "GET /v1/envelopes/{id} throughput vs bare asyncpg (>= 0.35x)",
    "P6": "list p50 at 1M vs 1k envelopes (<= 1.5x)",
    "P7": "invitation p99 at 20 envelopes/s (< 500 ms)",
    "P8": "signing throughput, 2 worker processes vs 1 (>= 1.8x)",
    "P9": "service CPU per 3-approver envelope (<= 60 ms)",
}


def results_path() -> Path:
    return Path(os.environ.get("BENCH_RESULTS", "/tmp/cachet-bench-results.jsonl"))


def record(
    target: str, what: str, floor: str, cachet: str, ratio: float | None, passed: bool
) -> None:
    """One measured target (the latest record of a target wins in the table)."""
    line = {
        "target": target,
        "what": what,
        "floor": floor,
        "cachet": cachet,
        "ratio": ratio,
        "passed": passed,
    }
    with results_path().open("a") as out:
        out.write(json.dumps(line) + "\n")


def main() -> None:
    path = results_path()
    found: dict[str, dict[str, object]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            found[row["target"]] = row
    print(f"\n{'':<4} {'target':<62} {'floor':>14} {'Cachet':>14} {'ratio':>7}  verdict")
    for target, what in TARGETS.items():
        row = found.get(target)
        if row is None:
            print(f"{target:<4} {what:<62} {'':>14} {'':>14} {'':>7}  not measured")
            continue
        ratio = row["ratio"]
        shown = f"{ratio:.2f}x" if isinstance(ratio, float) else ""
        verdict = "pass" if row["passed"] else "MISS"
        floor, cachet = str(row["floor"]), str(row["cachet"])
        print(f"{target:<4} {what:<62} {floor:>14} {cachet:>14} {shown:>7}  {verdict}")


if __name__ == "__main__":
    main()
