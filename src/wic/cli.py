"""The ``wic`` command: train, evaluate, predict, list models.

Exit codes: 0 success, 1 a run failed, 2 bad usage or bad input (argparse's convention).
Errors are one line on stderr naming what was wrong and what is accepted — no tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or input: exit code 2 with the message."""


def _recipe_from_args(args):
    from wic import train

    base = train.recipe_named(args.recipe)
    changes = {}
    for name in ("epochs", "batch_size", "learning_rate", "optimizer", "seed", "train_subset",
                 "label_smoothing", "schedule", "time_budget_s", "validation_split"):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    if args.augment is not None:
        changes["augment"] = args.augment
    if args.no_early_stopping:
        changes["early_stopping"] = False
    if args.no_reduce_lr:
        changes["reduce_lr"] = False
    extra = _assignments(args.set or [], "--set")
    unknown = sorted(set(extra) - set(train.recipe_fields()))
    if unknown:
        raise UsageError(f"--set {', '.join(unknown)}: not a recipe field; accepted: "
                         f"{', '.join(train.recipe_fields())}")
    try:
        return base.with_(**{**changes, **extra})
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _assignments(items: list[str], option: str) -> dict:
    """``NAME=VALUE`` strings to a dict; values are Python literals (``False``, ``0.1``,
    ``(32, 64, 64)``) or else plain strings (``flip=random``)."""
    import ast

    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"{option} {item!r}: accepted: NAME=VALUE, e.g. {option} lookahead=False")
        try:
            out[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[name] = text
    return out


def cmd_train(args) -> int:
    from wic import config, data, models, workflow

    if args.model not in models.available():
        raise UsageError(f"unknown model {args.model!r}; accepted: {', '.join(models.available())}")
    recipe = _recipe_from_args(args)
    model_kwargs = _assignments(args.model_arg or [], "--model-arg")
    if model_kwargs:  # refuse a builder argument it does not take before loading any data
        try:
            models.build(args.model, **model_kwargs)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--model-arg for {args.model}: {exc}") from None
    if args.threads:
        config.configure_threads(args.threads)
    dataset = data.load_cifar10(args.data, download=args.download)
    print(dataset.summary())
    print(f"training {args.model} with {recipe}")
    out = workflow.train_and_save(args.model, recipe, args.out, dataset=dataset,
                                  run_dir=Path(args.run_dir) if args.run_dir else None,
                                  resume=not args.restart, verbose=args.verbose,
                                  model_kwargs=model_kwargs or None)
    card = out.card
    print(f"saved {out.path} (card {out.path.with_suffix('.json').name}): test accuracy "
          f"{card['test_accuracy']:.4f} after {card['epochs_run']} epochs, "
          f"{card['train_wall_time_s']:.0f} s")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from wic import cards, config, data, evaluate, plots, predict

    path = predict.resolve_model_path(args.model)
    model = predict.load_model(path)
    dataset = data.load_cifar10(args.data, download=args.download)
    ev = evaluate.evaluate_model(model, dataset.x_test, dataset.y_test, dataset.class_names)
    card = cards.read_card(path)
    print(f"{path.name}: test accuracy {ev.accuracy:.4f}"
          + (f" (card says {card['test_accuracy']:.4f})" if "test_accuracy" in card else ""))
    for name, acc in ev.per_class_accuracy.items():
        print(f"  {name:<11s} {acc:.3f}")
    print(f"  expected calibration error {ev.ece:.4f}")
    if args.figures:
        fig_dir = config.figures_dir()
        plots.confusion_matrix(ev.confusion, dataset.class_names,
                               title=f"{path.stem}: confusion matrix (test accuracy {ev.accuracy:.3f})",
                               path=fig_dir / f"{path.stem}_confusion.png")
        print(f"  wrote {fig_dir / (path.stem + '_confusion.png')}")
    return EXIT_OK


def cmd_predict(args) -> int:
    """Top-k per file (``Cat: 71.2%``); a bad file gets one line on stderr, the others go on."""
    from wic import predict

    if args.top < 1:
        raise UsageError(f"--top must be at least 1, got {args.top}")
    with predict.quiet_native_logs():  # TensorFlow's C++ start-up chatter is not for users
        clf = predict.Classifier.load(args.model)
    status = EXIT_OK
    # Every file is decoded (or refused) on its own; the model runs once for the whole batch.
    tops = clf.top_k_batch([Path(f) for f in args.files], k=args.top)
    for f, top in zip(args.files, tops, strict=True):
        if isinstance(top, predict.ImageError):
            print(f"{f}: error: {top}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        print(f"{f}:")
        for label, p in top:
            print(f"  {label.capitalize()}: {100 * p:.1f}%")
    return status


def cmd_models(args) -> int:
    from wic import cards

    rows = cards.catalogue()
    if args.update_readme:
        changed = cards.update_readme(Path(args.update_readme), rows)
        print(f"{args.update_readme}: model table {'updated' if changed else 'already current'}")
        return EXIT_OK
    if args.markdown:
        print(cards.markdown_table(rows))
        return EXIT_OK
    if not rows:
        print("no models found (train one with: wic train)")
    for r in rows:
        acc = r["test_accuracy"]
        print(f"{r['name']:<24s} test accuracy {acc:.4f}" if acc is not None else r["name"])
    return EXIT_OK


def cmd_pipeline(args) -> int:
    from wic import pipeline

    out = pipeline.run_pipeline(args.profile, Path(args.out) if args.out else None, args.only,
                                timeout=args.timeout, publish=args.publish)
    print(f"executed notebooks and logs: {out}")
    return EXIT_OK


def cmd_sweep(args) -> int:
    from wic import sweep

    try:
        result = sweep.run_sweep(args.notebook, sweep.parse_cli_params(args.param or []),
                                 args.grid, seeds=args.seeds, out=args.out, workers=args.workers,
                                 dask=args.dask, timeout=args.timeout)
    except KeyboardInterrupt:
        print("\nsweep interrupted: finished runs are kept; run the same command again to "
              "resume (completed runs are skipped)", file=sys.stderr)
        return 130
    print(f"sweep {result.summary()}")
    for f in result.failures:
        err = f.get("error") or {}
        where = f"cell {err['cell']}" if err.get("cell") is not None else "start-up"
        msg = (err.get("message") or "").splitlines() or [""]
        print(f"  failed {f['run_id']} {f['params']}: {where}: {err.get('name')}: {msg[0][:200]}")
    print(f"table: {result.table_csv}\n       {result.table_parquet}")
    return EXIT_FAIL if result.failed else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wic", description="Web Image Classifier (CIFAR-10, Keras)")
    sub = p.add_subparsers(dest="command", required=True)

    def data_args(sp):
        sp.add_argument("--data", help="CIFAR-10 folder (default: $WIC_DATA_DIR, then Keras' cache)")
        sp.add_argument("--download", action="store_true",
                        help="allow Keras to download CIFAR-10 when it is not found locally")

    t = sub.add_parser("train", help="train a registry model, save it with its card",
                       description="Train a model from the registry with a recipe; saves "
                                   "models/OUT.keras + OUT.json and figures/OUT_curves.png. "
                                   "Re-running resumes an interrupted run.")
    t.add_argument("--model", default="seed_v1_3", help="registry model (see: wic models --registry)")
    t.add_argument("--recipe", default="seed", help="base recipe: seed or fast (default: seed)")
    t.add_argument("--out", help="output name (default: the model name)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--learning-rate", type=float)
    t.add_argument("--optimizer")
    t.add_argument("--schedule")
    t.add_argument("--label-smoothing", type=float)
    t.add_argument("--validation-split", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--train-subset", type=int, help="train on this many images (stratified)")
    t.add_argument("--time-budget-s", type=float, help="stop training after this many seconds")
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--no-early-stopping", action="store_true")
    t.add_argument("--no-reduce-lr", action="store_true")
    t.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="any other recipe field (repeatable), e.g. --set lookahead=False "
                        "--set flip=random")
    t.add_argument("--model-arg", action="append", metavar="NAME=VALUE",
                   help="a builder argument of the model (repeatable), e.g. --model-arg whiten=False")
    t.add_argument("--run-dir", help="run folder for checkpoints (default: runs/OUT)")
    t.add_argument("--restart", action="store_true", help="ignore a checkpoint and start over")
    t.add_argument("--threads", type=int, help="TensorFlow intra-op threads")
    t.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                   help="Keras progress: 1 bar, 2 one line per epoch (default)")
    data_args(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a saved model on the CIFAR-10 test set")
    e.add_argument("--model", help="model name in models/ or a .keras path (default: best)")
    e.add_argument("--figures", action="store_true", help="also write the confusion-matrix figure")
    data_args(e)
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="classify image files (JPEG, PNG, GIF, BMP, WebP, TIFF, SVG)",
                        description="Print the top classes of each image file. A bad file gets "
                                    "one line on stderr (exit code 2); the others are still "
                                    "classified.")
    pr.add_argument("files", nargs="+", help="image files")
    pr.add_argument("--model", help="model name in models/ or a .keras path (default: the most "
                                    "accurate model whose card latency is within 20 ms)")
    pr.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    pr.set_defaults(func=cmd_predict)

    pl = sub.add_parser("pipeline", help="execute the notebooks in order with papermill",
                        description="Run notebooks 01..06 with papermill into a fresh folder "
                                    "(runs/pipeline/<stamp>-<profile>/): executed copies + logs.")
    pl.add_argument("--profile", default="smoke", choices=("smoke", "full"),
                    help="smoke: seconds per notebook, outputs kept in the run folder; "
                         "full: the default parameters, rewrites figures/ (default: smoke)")
    pl.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks (e.g. 01 05)")
    pl.add_argument("--out", help="output folder (default: runs/pipeline/<stamp>-<profile>)")
    pl.add_argument("--timeout", type=int, help="per-cell timeout in seconds")
    pl.add_argument("--publish", action="store_true",
                    help="(full profile) copy the executed notebooks back into notebooks/, "
                         "dataset images stripped: the committed outputs")
    pl.set_defaults(func=cmd_pipeline)

    sw = sub.add_parser(
        "sweep", help="run a notebook over a grid of parameters (papermill), gather one table",
        description="Run NOTEBOOK once per parameter combination (x seeds) with papermill, in a "
                    "local process pool or on Dask; each run's executed notebook, metrics "
                    "(wic.record) and result land in OUT/runs/<run_id>/, the table in "
                    "OUT/runs.csv and OUT/runs.parquet. Re-running skips finished runs and "
                    "retries failed ones. Values are typed as YAML: false, 1e-3, null, 'text'.")
    sw.add_argument("notebook", help="the .ipynb to run (it needs a cell tagged 'parameters')")
    sw.add_argument("-p", "--param", nargs="+", action="append", metavar=("NAME", "VALUE"),
                    help="a parameter and its values, e.g. -p learning_rate 1e-3 3e-3 (repeatable)")
    sw.add_argument("--grid", help="YAML/JSON file: grid (name: [values]), runs (list), fixed, seeds")
    sw.add_argument("--seeds", nargs="+", type=int, help="repeat every run with these seeds "
                    "(injected as the parameter 'seed')")
    sw.add_argument("--out", help="output folder (default: sweeps/<notebook name>)")
    sw.add_argument("--workers", type=int, help="parallel runs (default: min(cores, runs))")
    sw.add_argument("--dask", metavar="local|tcp://HOST:PORT",
                    help="run on a Dask LocalCluster ('local') or an existing scheduler")
    sw.add_argument("--timeout", type=float, help="seconds a run's cells may take before its "
                    "kernel is killed and the run recorded as failed (default: no limit)")
    sw.set_defaults(func=cmd_sweep)

    m = sub.add_parser("models", help="list saved models with their test accuracy")
    m.add_argument("--markdown", action="store_true",
                   help="print the README's model table (numbers read from the model cards)")
    m.add_argument("--update-readme", metavar="README",
                   help="rewrite the model table between the markers in this file")
    m.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    from wic import config

    parser = build_parser()
    args = parser.parse_args(argv)
    config.absolutize_env()  # child kernels/workers run in other folders
    try:
        return args.func(args)
    except UsageError as exc:
        parser.exit(EXIT_USAGE, f"wic {args.command}: error: {exc}\n")
    except KeyboardInterrupt:
        print("\ninterrupted; a training run resumes from its last finished epoch", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence: no tracebacks
        from wic.data import DataError

        known = (DataError, ValueError, FileNotFoundError, KeyError)
        try:
            from wic.predict import ImageError, ModelError

            known = (*known, ImageError, ModelError)
        except ImportError:
            pass
        if isinstance(exc, known):
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            print(f"wic {args.command}: error: {msg}", file=sys.stderr)
            return EXIT_USAGE
        raise
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
