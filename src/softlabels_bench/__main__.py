"""``python -m softlabels_bench``: run the benchmarks (docs/benchmarks.md)."""

import sys

from softlabels_bench.bench import main

if __name__ == "__main__":
    sys.exit(main())
