"""Do uploads score like the test set? Test images made photo-like, classified through the
upload path, against the same model on the raw 32x32 arrays.

Each of the first N CIFAR-10 test images is upscaled (bicubic) to a random side of 200-600 px
and saved as JPEG (quality 85-95), PNG or WebP in turn; the bytes then go through exactly what
an upload goes through (``wic.serving.load_image`` → ``to_model_input``) with each candidate
downscaling filter. The gap is accuracy(raw arrays) - accuracy(upload path), in points.

    python benchmarks/upload_gap.py --models seed_v1_3 fast_cpu_v2 airbench94_cpu_v2 -n 2000
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model name (default: the default model)")
    p.add_argument("-n", type=int, default=2000, help="test images (default 2000)")
    p.add_argument("--offset", type=int, default=0, help="start at this test image")
    p.add_argument("--filters", nargs="+", default=["box", "box+restore", "lanczos"],
                   help="upload path variants: a downscale filter, optionally '+restore'")
    p.add_argument("--models", nargs="+", help="several models in one run (default: --model)")
    p.add_argument("--backend", default="onnx", choices=("onnx", "keras"),
                   help="how the model runs (the class page: onnx; default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", default="benchmarks/results/upload_gap.csv")
    args = p.parse_args(argv)

    from wic import config
    from wic.data import load_test_split
    from wic.experiments import results
    from wic.serving import Classifier, fidelity

    x, y, _ = load_test_split()
    x, y = x[args.offset:args.offset + args.n], y[args.offset:args.offset + args.n]
    rows = []
    for name in args.models or [args.model]:
        clf = Classifier.load(name, backend=args.backend)
        print(f"model {clf.name} ({clf.backend}); {len(y)} test images from #{args.offset}; CPU: "
              f"{config.describe_cpu()}; load {os.getloadavg()[0]:.2f}", flush=True)
        these = fidelity.measure(clf, x, y, args.filters, args.seed)
        for r in these:
            r["offset"] = args.offset
            if r["format"] == "all":
                print(f"  {r['filter']:<15s} raw {r['raw_accuracy']:.4f}  upload "
                      f"{r['upload_accuracy']:.4f}  gap {r['gap_points']:+.2f} points  agreement "
                      f"{r['agreement']:.3f}  ({r['seconds']:.0f} s)", flush=True)
        rows += these
    out = results.write_rows(args.csv, rows, list(rows[0]))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
