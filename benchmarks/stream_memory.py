"""Peak memory and time of scoring every row of a large Parquet table: the table read whole,
against its downstream rows streamed from the file, side by side.

    python benchmarks/stream_memory.py [--rows 1000000,4000000] [--max-fit 2000] [--run]
                                       [--out benchmarks/results/scale]

For each row count, writes the seeded table of ``make_big_table.py`` (20 Gaussian clusters in 8
dimensions, target y = sin(x₀) + 0.5 x₁ + noise) in row groups of 100 000 rows, then runs, each in
a fresh subprocess,

- ``contextures evaluate --data parquet:FILE:y -c 'knn(k=30)' --d0 64 --max-fit N`` (the table
  read whole, the contexts fitted on N pretrain rows and extended to the downstream rows), and
- the same command with ``--stream`` (the downstream rows streamed from the file);

and, with ``--run``, ``contextures run`` with its defaults on the smallest table, whole and with
``--stream``. Each reports its wall time, its peak resident memory (``ru_maxrss``), the peak of
the summed resident memory of it and its worker processes (sampled every 0.2 s with psutil), and
its JSON; the probe errors
of the two ``evaluate`` runs are printed side by side (they differ a little: the streamed run
fits its preprocessing on the fitting sample, the other on all pretrain rows). Raw output:
``<out>/stream-memory.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_big_table import big_table  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from contextures.cli.app import main
start = time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"code": code, "seconds": time.perf_counter() - start,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}),
      file=sys.stderr)
"""


def _tree_rss(proc) -> int:
    """Resident bytes of a process and all its descendants now (0 once it has gone)."""
    import psutil

    try:
        root = psutil.Process(proc.pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in members:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _child(args: list[str]) -> dict:
    """Run the command in a fresh process; its own peak RSS (ru_maxrss) and, sampled every
    0.2 s, the peak of the summed RSS of it and its worker processes."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.DEVNULL,
                                stderr=err, text=True)
        tree_peak = 0
        while proc.poll() is None:
            tree_peak = max(tree_peak, _tree_rss(proc))
            time.sleep(0.2)
        err.seek(0)
        stderr = err.read()
    record = json.loads(stderr.strip().splitlines()[-1])
    record["peak_tree_rss_bytes_sampled"] = tree_peak
    record["stderr_notes"] = [line for line in stderr.splitlines() if line.startswith("note:")]
    if record["code"] != 0:
        record["stderr"] = stderr[-2000:]
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,4000000")
    parser.add_argument("--max-fit", type=int, default=2000)
    parser.add_argument("--run", action="store_true", help="also time `run --stream`")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale"))
    args = parser.parse_args(argv)
    rows = [int(r) for r in args.rows.split(",")]
    out = {"machine": platform.platform(), "python": platform.python_version(),
           "max_fit": args.max_fit, "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in rows:
            path = Path(tmp) / f"big{n}.parquet"
            big_table(n).to_parquet(path, row_group_size=100_000, index=False)
            case = {"rows": n, "file_bytes": path.stat().st_size}
            for mode in ("whole", "stream"):
                report = Path(tmp) / f"{mode}{n}.json"
                cmd = ["evaluate", "--data", f"parquet:{path}:y", "-c", "knn(k=30)", "--d0", "64",
                       "--max-fit", str(args.max_fit), "--json", str(report), "-q"]
                record = _child(cmd + (["--stream"] if mode == "stream" else []))
                if report.exists():
                    result = json.loads(report.read_text())["results"][0]
                    record.update({k: result.get(k) for k in ("tau", "err_at_d_val", "d_val",
                                                              "err", "n_resolved", "solver")})
                case[mode] = record
                print(f"{n} rows, {mode}: {record['seconds']:.1f} s, peak RSS "
                      f"{record['peak_rss_bytes'] / 2**20:.0f} MiB (sampled "
                      f"{record['peak_tree_rss_bytes_sampled'] / 2**20:.0f} MiB), err_at_d_val "
                      f"{record.get('err_at_d_val')}", flush=True)
            out["cases"].append(case)
        if args.run:
            n = rows[0]
            path = Path(tmp) / f"big{n}.parquet"
            for mode in ("whole", "stream"):
                run_dir = Path(tmp) / f"run-{mode}"
                record = _child(["run", "--data", f"parquet:{path}:y", "--out", str(run_dir),
                                 "--quiet"] + (["--stream"] if mode == "stream" else []))
                summary = run_dir / "summary.json"
                if summary.exists():
                    data = json.loads(summary.read_text())
                    rec = data["recommendation"]
                    record.update(recommended=rec.get("context"), n_rows=data["n_rows"],
                                  n_fit=data["n_fit"], notes=data["notes"],
                                  candidates={c["context"]: c["err_at_d_val"]
                                              for c in data["candidates"]})
                out[f"run_{mode}"] = record
                print(f"run ({mode}) on {n} rows: {record['seconds']:.1f} s, peak RSS "
                      f"{record['peak_rss_bytes'] / 2**20:.0f} MiB (with its workers "
                      f"{record['peak_tree_rss_bytes_sampled'] / 2**20:.0f} MiB)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "stream-memory.json"
    target.write_text(json.dumps(out, indent=1))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
