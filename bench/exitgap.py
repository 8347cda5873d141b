#!/usr/bin/env python3
"""Where a hardrun `run` spends its wall time, seen from the caller: bench/exitgap.py N BIN...

For every binary, N runs alternating with the others, with HARDRUN_TRACE_TIMING=1: the wall
time, the time from the fork to the child's first stage line, and the time from its `total`
line to its reaping (the end of the process). Medians in ms. Used in bench/REPORT.md (issue 20,
part 4) to place the binary protection's cost: the same binary from a writable path (it
re-executes) and from a read-only bind mount (it does not).

Run as root inside the bench's mount namespace (see bench/ab.py), after one bench/run.sh.
"""
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
n = int(sys.argv[1])
bins = sys.argv[2:]
env = dict(os.environ, HARDRUN_CONFIG=os.path.join(REPO, "bench/work/config.toml"),
           HARDRUN_TRACE_TIMING="1")
gaps, first, walls = ({b: [] for b in bins} for _ in range(3))
for r in range(n):
    for b in bins:
        t0 = time.perf_counter()
        p = subprocess.Popen([b, "--root", "/tmp/exitgap", "run", "--bundle",
                              os.path.join(REPO, "bench/work/bundle"), f"eg{r}"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t_total = t_first = None
        for line in p.stderr:
            if t_first is None and b"stage=" in line:
                t_first = time.perf_counter()
            if b"stage=total" in line:
                t_total = time.perf_counter()
        if p.wait() != 0:
            sys.exit(f"{b} failed")
        t_end = time.perf_counter()
        walls[b].append((t_end - t0) * 1000)
        if t_first:
            first[b].append((t_first - t0) * 1000)
        if t_total:
            gaps[b].append((t_end - t_total) * 1000)
for b in bins:
    print(f"{b:40s} wall {statistics.median(walls[b]):6.2f}  "
          f"fork->first-stage {statistics.median(first[b]):6.2f}  "
          f"total-line->reaped {statistics.median(gaps[b]):6.2f}")
