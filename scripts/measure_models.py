"""Per-model latency of every model in models/, FP32 beside INT8, measured in one run: batch 1, one thread,
median and p99 over many runs after a warm-up. Prints JSON.

    .venv/bin/python scripts/measure_models.py [--runs 3000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dmsd.benchmark import time_pair

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps({task: time_pair(ROOT / "models", task, args.runs, args.threads)
                      for task in ("emotion", "seatbelt")}, indent=2))


if __name__ == "__main__":
    main()
