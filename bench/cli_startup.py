"""Print how long the ``kubefoundry`` command takes to answer, as a fresh process each time.

    python bench/cli_startup.py [--runs N]

Times ``--help``, one ``plan`` and one ``render`` (to stdout) of a catalog model, each run
as a new ``python -m kubefoundry.cli`` process, like a user typing it: the first run (cold:
KubeFoundry's bytecode compiled and cached then) and the median and maximum of the next N. Goals
(issue 8): ``--help`` ≤ 0.25 s, ``plan`` and ``render`` ≤ 0.6 s on the 2-core development
machine. Also prints the interpreter's own start-up (``python -c pass``) for scale. Nothing
here asserts: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "kubefoundry --help": ["-m", "kubefoundry.cli", "--help"],
    "kubefoundry plan llama-3.1-8b": ["-m", "kubefoundry.cli", "plan", "llama-3.1-8b"],
    "kubefoundry render llama-3.1-8b": ["-m", "kubefoundry.cli", "render", "llama-3.1-8b"],
}
GOALS = {"kubefoundry --help": 0.25, "kubefoundry plan llama-3.1-8b": 0.6}
GOALS["kubefoundry render llama-3.1-8b"] = 0.6


def once(argv: list[str]) -> float:
    # As a user runs it: Python caches compiled bytecode (a PYTHONDONTWRITEBYTECODE set in
    # this shell would make every run compile KubeFoundry's sources again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, env=env, check=False, timeout=120
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="warm runs per command")
    args = parser.parse_args()
    print(f"{'command':34} {'first':>7} {'median':>7} {'max':>7} {'goal':>6}")
    for name, argv in COMMANDS.items():
        first = once(argv)
        warm = [once(argv) for _ in range(args.runs)]
        goal = GOALS.get(name)
        print(
            f"{name:34} {first:6.3f}s {statistics.median(warm):6.3f}s {max(warm):6.3f}s "
            + (f"{goal:5.2f}s" if goal else "     -")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
