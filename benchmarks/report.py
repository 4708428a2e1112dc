"""Rewrite the results block of benchmarks/FAST_RECIPE.md from the CSV files in benchmarks/results.

    python benchmarks/report.py            # after any benchmark run that changed a CSV

Every number in the block comes from those files (``wic.results`` renders it); a test checks
that the committed block is the one they produce.
"""

from __future__ import annotations

import sys
from pathlib import Path

from wic.experiments import results

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    doc, data = ROOT / "benchmarks" / "FAST_RECIPE.md", ROOT / "benchmarks" / "results"
    changed = results.update(doc, data)
    print(f"{doc.relative_to(ROOT)}: results block {'rewritten' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
