"""Single-image latency: ``model.predict`` (the seed's way) against our compiled path.

Prints p50/p90 in ms and the ratios, not verdicts. ``--write-card`` records the end-to-end p50
as ``latency_ms_p50`` (plus the details under ``latency``) in the model's card, which is what
``wic.serving.resolve_model_path(None)`` reads to pick the default model.

    python benchmarks/predict_latency.py [--model NAME|PATH] [-n 300] [--threads N] [--write-card]

Other work on the machine (a training run) slows every path; the load average is printed so a
reader can tell.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model name in models/ or a .keras path (default: the default)")
    p.add_argument("-n", type=int, default=300, help="timed calls per path (default 300)")
    p.add_argument("--threads", type=int, help="TensorFlow intra-op threads (default: TF's)")
    p.add_argument("--write-card", action="store_true", help="write latency_ms_p50 to the card")
    p.add_argument("--backend", default="keras", choices=("keras", "onnx"))
    args = p.parse_args(argv)

    from wic import config
    from wic.serving import Classifier, ModelError
    from wic.serving.latency import measure_latency, write_latency_card

    if args.threads:
        config.configure_threads(args.threads)
    try:
        clf = Classifier.load(args.model, backend=args.backend)
    except ModelError as exc:
        print(f"predict_latency: error: {exc}", file=sys.stderr)
        return 2
    load1 = os.getloadavg()[0]
    r = measure_latency(clf, n=args.n)
    print(f"model {clf.name} ({clf.path}, {clf.backend}); n={r['n']}; CPU: "
          f"{config.describe_cpu()}; load average {load1:.2f} before the run")
    rows = [("model.predict(x) [seed]", r.get("predict_ms")),
            ("model(x, training=False)", r.get("eager_call_ms")),
            (f"{r['method']} [ours]", r["ours_ms"]),
            ("end to end: 640x480 JPEG -> top-3", r["end_to_end_ms"])]
    rows = [(name, t) for name, t in rows if t is not None]
    print(f"{'path':<36s} {'p50 ms':>8s} {'p90 ms':>8s} {'p50 vs ours':>12s}")
    for name, t in rows:
        print(f"{name:<36s} {t['p50']:8.2f} {t['p90']:8.2f} "
              f"{t['p50'] / r['ours_ms']['p50']:11.1f}x")
    if "ratio_predict_over_ours_p50" in r:
        print(f"model.predict / ours (p50): {r['ratio_predict_over_ours_p50']:.1f}x")
    if args.write_card:
        written = write_latency_card(clf, r)
        print(f"wrote latency_ms_p50={r['latency_ms_p50']} to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
