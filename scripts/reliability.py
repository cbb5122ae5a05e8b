#!/usr/bin/env python3
"""Run the reliability suite (tests/reliability): the CI form, or with --long the long form
(30+ kill points with random moments and delays).

    .venv/bin/python scripts/reliability.py            # CI form: 8 kill points
    .venv/bin/python scripts/reliability.py --long     # long form: 32 kill points
    .venv/bin/python scripts/reliability.py --long --points 60 --seed 7

Needs PostgreSQL at 127.0.0.1:5432 (or FUNDARB_TEST_PG); skipped with the reason otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="the long form (30+ kill points)")
    parser.add_argument("--points", type=int, help="kill points (default: 8, or 32 with --long)")
    parser.add_argument("--seed", type=int, help="the random moments' seed")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.long:
        env["FUNDARB_RELIABILITY_LONG"] = "1"
    if args.points is not None:
        if args.points < 1:
            parser.error("--points must be at least 1")
        env["FUNDARB_RELIABILITY_POINTS"] = str(args.points)
    if args.seed is not None:
        env["FUNDARB_RELIABILITY_SEED"] = str(args.seed)
    command = [sys.executable, "-m", "pytest", "-s", "-v", "tests/reliability", *args.pytest_args]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
