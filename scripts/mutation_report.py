"""Write the mutation report of the last `mutmut run` (make mutation): the score, and every mutant that survived
or that no fast test reaches, each with its one-line change, grouped by function.

    .venv/bin/python -m scripts.mutation_report [--out mutation-report.md] [--json]

A survivor is either a missing test (write one) or an equivalent mutant (one whose change no caller can see).
Equivalent ones are listed, each with its one-line reason, in tests/mutation_equivalents.txt (`<mutant> <reason>`);
the report separates them from the survivors still to kill, and exits 1 while any of those is left.
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
# A mutant the tests catch: one that fails them, or one that makes them hang until mutmut stops them at its limit.
CAUGHT = ("killed", "timeout")
EQUIVALENTS = ROOT / "tests" / "mutation_equivalents.txt"


def equivalents() -> dict[str, str]:
    """The mutants explained as equivalent: name -> reason."""
    if not EQUIVALENTS.is_file():
        return {}
    explained = {}
    for line in EQUIVALENTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.strip().partition(" ")
            explained[name] = reason.strip()
    return explained


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "mutation-report.md")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON too")
    args = parser.parse_args()
    statuses = results()
    explained = equivalents()
    counts = collections.Counter(statuses.values())
    killed = sum(counts.get(status, 0) for status in CAUGHT)
    left = {name: status for name, status in statuses.items() if status not in CAUGHT}
    equivalent = {name: explained[name] for name in left if name in explained}
    to_kill = {name: status for name, status in left.items() if name not in explained}
    stale = sorted(set(explained) - set(left))  # explained, but killed now or gone: the list needs a look
    score = killed / len(statuses)
    today = datetime.date.today().isoformat()
    cpu = machine()
    lines = [
        f"# Mutation report, {today}",
        "",
        f"Machine: {cpu['cpu']}, {cpu['cores']} cores, Python {cpu['python']}. mutmut over the code that decides and "
        "delivers alarms (`[tool.mutmut]` in pyproject.toml) against its fast tests.",
        "",
        f"**{killed} of {len(statuses)} mutants killed ({score:.1%})**"
        + (f" ({counts['timeout']} of them by making the tests hang)" if counts.get("timeout") else "")
        + f"; {len(equivalent)} equivalent (explained in tests/mutation_equivalents.txt); **{len(to_kill)} to kill**.",
        "",
    ]
    sections = (
        ("To kill", to_kill, lambda n: NOT_KILLED.get(to_kill[n], to_kill[n])),
        ("Equivalent", equivalent, None),
    )
    for title, group, note in sections:
        by_function: dict[str, list[str]] = collections.defaultdict(list)
        for name in sorted(group):
            why = note(name) if note else f"equivalent: {group[name]}"
            by_function[function_of(name)].append(f"- `{name.rsplit('__', 1)[-1]}` {why}: `{change(name)}`")
        lines.append(f"## {title} ({len(group)})")
        for function, items in sorted(by_function.items(), key=lambda item: -len(item[1])):
            lines += [f"### {function} ({len(items)})", *items, ""]
    if stale:
        lines += ["## Listed as equivalent but not surviving now", *[f"- `{name}`" for name in stale], ""]
    args.out.write_text("\n".join(lines))
    print(f"{killed} of {len(statuses)} killed ({score:.1%}), {len(equivalent)} equivalent, {len(to_kill)} to kill")
    if args.json:
        summary = {"date": today, "machine": cpu, "total": len(statuses), **counts, "score": round(score, 4)}
        print(json.dumps({**summary, "equivalent": len(equivalent), "to_kill": len(to_kill)}))
    return 1 if to_kill else 0


if __name__ == "__main__":
    sys.exit(main())
