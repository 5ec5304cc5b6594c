#!/usr/bin/env python3
"""CPU (user + sys) of `muster ingest` for two builds, runs alternated so that load drifts hit
both alike: `python3 bench/ab_cpu.py OLD_BIN NEW_BIN REPORT [RUNS]` (10 runs each by default).
Each run ingests REPORT into a fresh SQLite file; rusage comes from os.wait4, so only the
muster process and its threads count."""

import os
import statistics
import sys
import tempfile


def run(binary: str, report: str, db: str) -> float:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(db + suffix)
        except FileNotFoundError:
            pass
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(binary, [binary, "--db", db, "ingest", "--json", report])
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        sys.exit(f"{binary} failed on {report} (wait status {status})")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    old, new, report = sys.argv[1:4]
    runs = int(sys.argv[4]) if len(sys.argv) == 5 else 10
    cpu = {old: [], new: []}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(runs):
            for binary in (old, new):
                cpu[binary].append(run(binary, report, os.path.join(work, "ab.db")))
    for binary, seconds in cpu.items():
        print(f"{binary}: CPU s median {statistics.median(seconds):.3f} min {min(seconds):.3f} max {max(seconds):.3f} ({runs} runs)")


if __name__ == "__main__":
    main()
