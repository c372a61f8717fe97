"""`python -m bench [--quick] [--only NAME ...]`: every benchmark in turn (start-up, storage, fan-out,
platforms, latency, ranking, cost, crashes), each writing its section of bench/RESULTS.md. `make bench`
runs this; all of it takes about 15 minutes."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

# Each bench imports bench.common first: loopback-only proxy settings, the repository on sys.path.
from bench import cost, fanout, kills, latency, platforms, ranking, startup, storage

BENCHES: dict[str, Callable[[list[str]], int]] = {
    "startup": startup.main,
    "storage": storage.main,
    "fanout": fanout.main,
    "platforms": platforms.main,
    "latency": latency.main,
    "ranking": ranking.main,
    "cost": cost.main,
    "kills": kills.main,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller data and fewer repeats")
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run only these")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args(argv)
    passed = [flag for flag, on in (("--quick", args.quick), ("--no-write", args.no_write)) if on]
    status = 0
    for name, run in BENCHES.items():
        if args.only and name not in args.only:
            continue
        print(f"\n######## bench.{name}")
        start = time.perf_counter()
        status |= run(passed)
        print(f"######## bench.{name}: {time.perf_counter() - start:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
