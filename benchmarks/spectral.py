"""Spectral engine vs scipy ARPACK ``eigsh``: ``python benchmarks/spectral.py [--quick]``.

The same benchmark runs as ``contextures bench spectral``; the code lives in
:mod:`contextures.experiments.spectral_bench` so that the installed package has it too.
"""

import sys

from contextures.experiments.spectral_bench import main

if __name__ == "__main__":
    sys.exit(main())
