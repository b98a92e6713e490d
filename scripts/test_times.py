"""Where `make test`'s time goes: per-module totals from the JUnit XML every run leaves behind.

    .venv/bin/python scripts/test_times.py [test-artifacts/junit.xml] [--top 20]

Module time is the sum of its tests' times (pytest counts a module fixture's set-up in the first test
that uses it); the suite's wall time is about the busiest pytest-xdist worker's share of the total.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def module_times(path: Path) -> tuple[dict[str, float], dict[str, int], float]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise SystemExit(f"error: cannot read {path}: {exc} — run `make test` first (it writes it)") from None
    total: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for case in root.iter("testcase"):
        module = case.get("classname", "?").split(".")
        # classname is "tests.bench.test_x" or "tests.bench.test_x.TestClass"
        name = "/".join(p for p in module if not p[:1].isupper()) + ".py"
        total[name] += float(case.get("time") or 0.0)
        count[name] += 1
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    wall = float(suite.get("time") or 0.0) if suite is not None else 0.0
    return dict(total), dict(count), wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("junit", nargs="?", default="test-artifacts/junit.xml")
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    total, count, wall = module_times(Path(args.junit))
    work = sum(total.values())
    print(f"{sum(count.values())} tests, {work:.0f} s of test time in all, {wall:.0f} s wall")
    print(f"{'module':<60} {'tests':>5} {'seconds':>8} {'share':>6}")
    for name, secs in sorted(total.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{name:<60} {count[name]:>5} {secs:>8.1f} {secs / work:>6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
