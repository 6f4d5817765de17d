"""Write the mutation report of the last `mutmut run` (make mutation): the score, and every mutant that survived
or that no fast test reaches, each with its one-line change, grouped by function.

    .venv/bin/python -m scripts.mutation_report [--out mutation-report.md] [--json]

A survivor is either a missing test (write one) or an equivalent mutant (one whose change no caller can see); the
report is where both are read from.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

from dmsd.offline.timing import machine

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = [str(Path(sys.executable).parent / "mutmut")]
NOT_KILLED = {"survived": "survived", "no tests": "no test reaches it"}


def results() -> dict[str, str]:
    """Every mutant's status (killed, survived, no tests, timeout, ...) from mutmut's own records."""
    out = subprocess.run([*MUTMUT, "results", "--all", "true"], capture_output=True, text=True, cwd=ROOT, check=True)
    statuses = {}
    for line in out.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            statuses[name] = status.strip()
    if not statuses:
        raise SystemExit("no mutation results: run `make mutation` first")
    return statuses


def change(name: str) -> str:
    """The mutant's change: its first changed line, before -> after."""
    out = subprocess.run([*MUTMUT, "show", name], capture_output=True, text=True, cwd=ROOT).stdout.splitlines()
    removed = [line[1:].strip() for line in out if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in out if line.startswith("+") and not line.startswith("+++")]
    return f"{removed[0] if removed else ''}` -> `{added[0] if added else '(removed)'}"


def function_of(name: str) -> str:
    """dmsd.driver.alertness.xǁAlertnessTrackerǁ_eyes__mutmut_12 -> dmsd.driver.alertness AlertnessTracker._eyes."""
    base = re.sub(r"__mutmut_\d+$", "", name)
    module, _, member = base.partition(".x")
    return f"{module} {member.strip('ǁ_').replace('ǁ', '.')}" if "ǁ" in member else f"{module} {member.lstrip('_')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "mutation-report.md")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON too")
    args = parser.parse_args()
    statuses = results()
    counts = collections.Counter(statuses.values())
    killed = counts.get("killed", 0)
    score = killed / len(statuses)
    left = {name: status for name, status in statuses.items() if status != "killed"}
    by_function: dict[str, list[tuple[str, str, str]]] = collections.defaultdict(list)
    for name, status in sorted(left.items()):
        by_function[function_of(name)].append((name, NOT_KILLED.get(status, status), change(name)))
    today = datetime.date.today().isoformat()
    cpu = machine()
    lines = [
        f"# Mutation report, {today}",
        "",
        f"Machine: {cpu['cpu']}, {cpu['cores']} cores, Python {cpu['python']}. mutmut over the alarm-deciding code "
        "(`[tool.mutmut]` in pyproject.toml) against its fast tests.",
        "",
        f"**{killed} of {len(statuses)} mutants killed ({score:.1%})**; "
        + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if status != "killed"),
        "",
    ]
    for function, mutants in sorted(by_function.items(), key=lambda item: -len(item[1])):
        lines.append(f"## {function} ({len(mutants)})")
        lines += [f"- `{name.rsplit('__', 1)[-1]}` {status}: `{text}`" for name, status, text in mutants]
        lines.append("")
    args.out.write_text("\n".join(lines))
    print(f"{killed} of {len(statuses)} killed ({score:.1%}); report: {args.out}")
    if args.json:
        print(json.dumps({"date": today, "machine": cpu, "total": len(statuses), **counts, "score": round(score, 4)}))


if __name__ == "__main__":
    main()
