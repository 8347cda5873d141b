#!/usr/bin/env python3
"""Interleaved A/B of `run` latency: bench/ab.py N BIN1 BIN2 ...

Runs `BIN --root $ABROOT/abrootK run --bundle bench/work/bundle ID` for every binary once per
round, N rounds (after 3 warmup rounds), rotating which binary goes first, and prints each one's
median, 25th percentile and minimum wall time in ms. Python's fork/exec is in every number alike,
so compare the binaries with each other, not with bench/run.sh's hyperfine numbers.

Run it as root inside the bench's mount namespace (crun needs it; see bench/run.sh), after one
bench/run.sh has made bench/work/ (bundle and config.toml), with bench/run.sh's journaled ext4
(VAR_FS=ext4: bench/work/var.img) mounted where config.toml puts the audit log and records:
    unshare -m --propagation private sh -c \
        'umount /sys/fs/cgroup/unified 2>/dev/null; mount -o loop bench/work/var.img bench/work/var;
         bench/ab.py 40 /tmp/hardrun-a /tmp/hardrun-b'
"""
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
n = int(sys.argv[1])
bins = sys.argv[2:]
bundle = os.path.join(REPO, "bench/work/bundle")
env = dict(os.environ, HARDRUN_CONFIG=os.path.join(REPO, "bench/work/config.toml"))
res = {b: [] for b in bins}
for r in range(n + 3):
    order = bins[r % len(bins):] + bins[:r % len(bins)]
    for b in order:
        k = bins.index(b)
        root = os.environ.get("ABROOT", "/tmp") + f"/abroot{k}"
        t = time.perf_counter()
        p = subprocess.run([b, "--root", root, "run", "--bundle", bundle, f"ab{k}-{r}"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        d = (time.perf_counter() - t) * 1000
        if p.returncode != 0:
            sys.exit(f"{b} failed: {p.stderr.decode()[:300]}")
        if r >= 3:
            res[b].append(d)
for b in bins:
    v = sorted(res[b])
    print(f"{b:40s} median {statistics.median(v):6.2f} p25 {v[len(v) // 4]:6.2f} min {v[0]:6.2f}")
