import sys, time, csv, io
from pathlib import Path
from contextures.experiments.correlation import CORRELATION, CorrelationSettings, resolve_datasets
from contextures.runner import run_study
root = Path(sys.argv[1]); t = None if sys.argv[2] == "none" else int(sys.argv[2]); w = int(sys.argv[3])
s = CorrelationSettings(strengths=2, d0=64, datasets=tuple(resolve_datasets(data=["sklearn:breast_cancer"])))
start = time.time()
run_study(CORRELATION, s, root, workers=w, threads_per_worker=t, progress=False)
print("seconds", time.time() - start)
