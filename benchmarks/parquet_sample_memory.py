"""Peak memory of a capped Parquet load: the whole file read then capped, against the row-group
sample (the path taken when the file is over the memory budget), side by side.

    python benchmarks/parquet_sample_memory.py [--rows 2000000] [--columns 16] [--cap 100000]
                                               [--out benchmarks/results/parquet-sample]

Writes a seeded table of ``--rows`` × ``--columns`` float64 columns plus a 3-class label, in row
groups of 100 000 rows, then loads ``parquet:FILE:label:max_rows=CAP`` in two fresh
subprocesses: one with a budget above the whole table (read whole, then capped), one with a
budget just below it (read by row groups). Each reports its peak resident memory (``ru_maxrss``),
the peak before the load (after the imports), and wall time; the two tables are compared for equality by a digest. Raw output:
``<out>/parquet-sample-memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import hashlib, json, resource, sys, time
import pandas as pd
from contextures.datasets import load_dataset
import contextures.datasets.parquet_sample, pyarrow.parquet
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = time.perf_counter()
d = load_dataset(sys.argv[1])
seconds = time.perf_counter() - t
digest = hashlib.sha256(pd.util.hash_pandas_object(d.X_raw).values.tobytes()
                        + pd.util.hash_pandas_object(d.y_raw).values.tobytes()).hexdigest()
print(json.dumps({"seconds": seconds, "peak_rss_bytes": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss * 1024, "peak_rss_before_load_bytes": before,
    "rows": int(d.X_raw.shape[0]),
    "row_groups": bool(d.metadata["cap"].get("read_by_row_groups")), "digest": digest}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--columns", type=int, default=16)
    parser.add_argument("--cap", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/parquet-sample"))
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from contextures.datasets.remote import parquet_decoded_bytes

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.parquet"
        rng = np.random.default_rng(0)
        frame = pd.DataFrame(rng.normal(size=(args.rows, args.columns)),
                             columns=[f"x{j}" for j in range(args.columns)])
        frame["label"] = rng.choice(["a", "b", "c"], args.rows, p=[0.2, 0.3, 0.5])
        frame.to_parquet(path, row_group_size=100_000, index=False)
        del frame
        decoded = parquet_decoded_bytes(pq.ParquetFile(path).metadata)
        spec = f"parquet:{path}:label:max_rows={args.cap}"
        result = {"rows": args.rows, "columns": args.columns + 1, "cap": args.cap,
                  "file_bytes": path.stat().st_size, "decoded_bytes": decoded}
        for name, budget in (("whole_then_capped", 4 * decoded), ("row_groups", decoded - 1)):
            env = {**os.environ, "CONTEXTURES_MEMORY_BUDGET": str(budget)}
            out = subprocess.run([sys.executable, "-c", CHILD, spec], env=env, check=True,
                                 capture_output=True, text=True).stdout
            result[name] = {"budget_bytes": budget, **json.loads(out.strip().splitlines()[-1])}
            print(name, result[name], flush=True)
    whole, groups = result["whole_then_capped"], result["row_groups"]
    result["same_table"] = whole["digest"] == groups["digest"]
    for side in (whole, groups):
        # what the load added to the peak of the imports (0: it stayed under that peak)
        side["load_peak_bytes"] = max(0, side["peak_rss_bytes"]
                                      - side["peak_rss_before_load_bytes"])
    result["peak_ratio"] = whole["peak_rss_bytes"] / groups["peak_rss_bytes"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "parquet-sample-memory.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"decoded table {decoded / 2**20:.0f} MiB; peak RSS whole-then-capped "
          f"{whole['peak_rss_bytes'] / 2**20:.0f} MiB ({whole['seconds']:.1f} s), row groups "
          f"{groups['peak_rss_bytes'] / 2**20:.0f} MiB ({groups['seconds']:.1f} s): "
          f"{result['peak_ratio']:.1f}× less (above the imports: "
          f"{whole['load_peak_bytes'] / 2**20:.0f} against {groups['load_peak_bytes'] / 2**20:.0f}"
          f" MiB); same table: {result['same_table']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
