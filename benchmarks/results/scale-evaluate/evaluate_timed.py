"""`contextures evaluate ...` in-process, each ridge_probe_curve and Contexture.transform call timed.

    python evaluate_timed.py evaluate --data parquet:big1m.parquet:y -c 'knn(k=30)' \
        --max-fit 2000 --json OUT.json                  # the blocked probe (this tree)
    OLD_PROBE=1 python evaluate_timed.py evaluate ...   # the unblocked probe of commit 6680129

Each call prints one JSON line to stderr: its wall time and the process CPU time it used.
"""

import json
import os
import sys
import time

import contextures.evaluation.scoring as scoring
from contextures.cli.app import main
from contextures.spectral import Contexture

timings = []


def timed(name, fn):
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        timings.append({"call": name, "wall_s": time.perf_counter() - wall,
                        "cpu_s": time.process_time() - cpu,
                        "shape": list(args[0].shape) if hasattr(args[0], "shape") else None})
        print(json.dumps(timings[-1]), file=sys.stderr, flush=True)
        return out
    return wrapper


if os.environ.get("OLD_PROBE"):
    sys.path.insert(0, "/work/main/benchmarks")
    from probe_blocks import load_old

    scoring.ridge_probe_curve = timed("ridge_probe_curve (unblocked, 6680129)",
                                      load_old("6680129").ridge_probe_curve)
else:
    scoring.ridge_probe_curve = timed("ridge_probe_curve", scoring.ridge_probe_curve)
Contexture.transform = timed("Contexture.transform", Contexture.transform)
sys.argv = ["contextures"] + sys.argv[1:]
main()
