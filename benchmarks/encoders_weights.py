"""Encoders under weights and batches (the same as ``contextures bench encoders``).

    python benchmarks/encoders_weights.py [--seeds 3] [--threads 1] [--out DIR]

See :mod:`contextures.experiments.encoder_bench` for the sections and what each run measures.
"""

import argparse
from pathlib import Path

from contextures.experiments.encoder_bench import run

ROOT = Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser(description="Encoders under weights and batches.")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "encoders")
    parser.add_argument("--sections", default="ABCD")
    args = parser.parse_args(argv)
    run(seeds=args.seeds, threads=args.threads, out=args.out, sections=args.sections)


if __name__ == "__main__":
    main()
