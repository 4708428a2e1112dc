"""The ``wic`` command: train, evaluate, predict, list models.

Exit codes: 0 success, 1 a run failed, 2 bad usage or bad input (argparse's convention).
Errors are one line on stderr naming what was wrong and what is accepted — no tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wic import values

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or input: exit code 2 with the message."""


def _recipe_from_args(args):
    """The base recipe with the typed options and ``--set FIELD=VALUE`` (parsed by the one
    parser, :mod:`wic.values`, against each field's type)."""
    from wic import training

    base = training.recipe_named(args.recipe)
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
    texts = values.assignments(args.set or [], "--set")
    both = sorted(set(texts) & set(changes))
    if both:
        raise UsageError(f"--set {', '.join(both)}: also given as its own option; use one")
    return base.with_text({**{k: str(v) for k, v in changes.items()}, **texts})


def _model_kwargs(args) -> dict:
    """``--model-arg NAME=VALUE``, typed against the builder's defaults (one parser)."""
    import inspect

    from wic import models

    texts = values.assignments(args.model_arg or [], "--model-arg")
    if not texts:
        return {}
    params = inspect.signature(models.spec(args.model).builder).parameters
    unknown = sorted(set(texts) - set(params))
    if unknown:
        raise UsageError(f"--model-arg {', '.join(unknown)}: not an argument of {args.model}; "
                         f"accepted: {', '.join(p for p in params if p != 'name')}")
    out = {}
    for name, text in texts.items():
        default = params[name].default
        kind = type(default) if isinstance(default, (bool, int, float, str)) else None
        if isinstance(default, tuple) and default:
            kind = tuple[type(default[0]), ...]
        out[name] = values.parse(text, kind, name)
    return out


def cmd_train(args) -> int:
    from wic import config, data, models, training

    if args.model not in models.available():
        raise UsageError(f"unknown model {args.model!r}; accepted: {', '.join(models.available())}")
    recipe = _recipe_from_args(args)
    model_kwargs = _model_kwargs(args)
    out_name = args.out or args.model
    values.identifier("--out", out_name)
    try:
        data.check_test_subset(args.test_subset)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:  # refuse a builder argument it cannot take before loading any data
        net = models.build(args.model, **model_kwargs)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--model-arg for {args.model}: {exc}") from None
    run_dir = Path(args.run_dir) if args.run_dir else training.run_folder(out_name)
    if args.dry_run:
        print(f"model {args.model} ({models.spec(args.model).description}): "
              f"{models.parameter_counts(net)['total']:,} parameters"
              + (f", arguments {model_kwargs}" if model_kwargs else ""))
        print(recipe.describe(args.recipe))
        if recipe.precision == "auto":
            from wic import config as cfg

            print(f"  (precision 'auto' trains in {recipe.resolved_precision()} on this CPU: "
                  f"{cfg.describe_cpu()})")
        print(f"would write {run_dir / (out_name + '.keras')} (+ card and figures); "
              "nothing was trained (--dry-run)")
        return EXIT_OK
    if args.threads:
        config.configure_threads(args.threads)
    dataset = data.load_cifar10(args.data, download=args.download)
    print(dataset.summary())
    print(f"training {args.model} with recipe {args.recipe} "
          f"({len(recipe.changes(training.recipe_named(args.recipe)))} changes) into {run_dir}")
    out = training.train_and_save(args.model, recipe, out_name, dataset=dataset, run_dir=run_dir,
                                  resume=not args.restart, verbose=args.verbose,
                                  model_kwargs=model_kwargs or None, test_subset=args.test_subset)
    card = out.card
    calib = card.get("calibration")
    print(f"saved {out.path} (card {out.path.with_suffix('.json').name}): test accuracy "
          f"{card['test_accuracy']:.4f} after {card['epochs_run']} epochs, "
          f"{card['train_wall_time_s']:.0f} s"
          + (f"; temperature {calib['temperature']} (test ECE {calib['test_ece_before']:.3f} → "
             f"{calib['test_ece_after']:.3f})" if calib else ""))
    if card.get("test_subset") is not None:
        print(f"scored on the first {card['test_subset']:,} test images (--test-subset): a smoke "
              "run, not for shipping")
    else:
        print(f"ship it with: wic models promote {out_name}")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from wic import data
    from wic.evaluation import calibration, metrics
    from wic.serving import Classifier

    clf = Classifier.load(args.model, backend=args.backend)
    dataset = data.load_cifar10(args.data, download=args.download)
    probs = clf.predict_arrays(dataset.x_test)  # calibrated, as the page shows them
    ev = metrics.evaluate_probs(probs, dataset.y_test, dataset.class_names)
    card = clf.card
    print(f"{clf.name} ({clf.backend}): test accuracy {ev.accuracy:.4f}"
          + (f" (card says {card['test_accuracy']:.4f})" if "test_accuracy" in card else ""))
    for name, acc in ev.per_class_accuracy.items():
        print(f"  {name:<11s} {acc:.3f}")
    if clf.temperature is not None:
        raw = calibration.expected_calibration_error(
            calibration.apply_temperature(probs, 1 / clf.temperature), dataset.y_test)
        print(f"  expected calibration error {ev.ece:.4f} with temperature {clf.temperature} "
              f"(without: {raw:.4f})")
    else:
        print(f"  expected calibration error {ev.ece:.4f} (no temperature in the card)")
    if args.robustness:
        from wic.evaluation import corruptions

        n = args.robustness_subset
        rows = corruptions.benchmark(clf.predict_arrays, dataset.x_test[:n], dataset.y_test[:n])
        summary = corruptions.summary(rows)
        print(f"  {summary['benchmark']}, {summary['n_images']} test images: mean accuracy "
              f"{summary['mean_accuracy']:.4f}")
        for name, acc in summary["per_corruption"].items():
            print(f"    {name:<18s} {acc:.3f}")
        if args.write_card:
            from wic import cards

            card = cards.read_card(clf.path)
            card["robustness"] = {**summary, "backend": clf.backend, "rows": rows}
            cards.write_card(clf.path, card)
            print(f"  wrote the benchmark into {cards.card_path(clf.path)}")
    if args.figures:
        from wic import config
        from wic.evaluation import plots

        fig_dir = Path(args.figures_dir) if args.figures_dir else config.runs_dir() / "evaluate"
        path = fig_dir / f"{clf.name}_confusion.png"
        plots.confusion_matrix(ev.confusion, dataset.class_names,
                               title=f"{clf.name}: confusion matrix (test accuracy {ev.accuracy:.3f})",
                               path=path)
        print(f"  wrote {path}")
    return EXIT_OK


def cmd_predict(args) -> int:
    """Top-k per file (``Cat: 71.2%``); a bad file gets one line on stderr, the others go on."""
    from wic.serving import Classifier, ImageError, percent

    if args.top < 1:
        raise UsageError(f"--top must be at least 1, got {args.top}")
    clf = Classifier.load(args.model, backend=args.backend)
    status = EXIT_OK
    # Every file is decoded (or refused) on its own; the model runs once for the whole batch.
    tops = clf.top_k_batch([Path(f) for f in args.files], k=args.top)
    for f, top in zip(args.files, tops, strict=True):
        if isinstance(top, ImageError):
            print(f"{f}: error: {top}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        print(f"{f}:")
        for label, p in top:
            print(f"  {label.capitalize()}: {percent(p)}")
    return status


def cmd_models(args) -> int:
    from wic import cards

    if getattr(args, "models_command", None) == "promote":
        from wic import training

        dest = training.promote(args.name, force=args.force)
        print(f"shipped {dest} and {cards.card_path(dest).name}; measure its latency with "
              f"python benchmarks/predict_latency.py --model {dest.stem} --write-card "
              "(the page's default is chosen among models with a measured latency)")
        return EXIT_OK
    rows = cards.catalogue()
    if args.update_readme:
        changed = cards.update_readme(Path(args.update_readme), rows)
        print(f"{args.update_readme}: model table {'updated' if changed else 'already current'}")
        return EXIT_OK
    if args.markdown:
        print(cards.markdown_table(rows))
        return EXIT_OK
    if args.registry:
        from wic import models

        for name in models.available():
            print(f"{name:<18s} {models.spec(name).description}")
        return EXIT_OK
    if not rows:
        print("no models found (train one with: wic train, ship it with: wic models promote)")
    for r in rows:
        acc = r["test_accuracy"]
        print(f"{r['name']:<24s} test accuracy {acc:.4f}" if acc is not None else r["name"])
    return EXIT_OK


def cmd_export(args) -> int:
    import importlib.util

    needs = {"onnx": ("onnx", "export"), "savedmodel": (None, None)}[args.format]
    if needs[0] and importlib.util.find_spec(needs[0]) is None:
        raise UsageError(f"--format {args.format} needs the optional '{needs[1]}' extra: "
                         f"pip install 'wic[{needs[1]}]'")
    from wic.models import export

    if (args.name is None) == (not args.all):
        raise UsageError("give a model NAME or --all (every model in the models folder)")
    if not args.all:
        out = export.export(args.name, args.format, Path(args.out) if args.out else None)
        print(f"wrote {out}")
        return EXIT_OK
    from wic import cards, files

    suffix = {"onnx": ".onnx", "savedmodel": "_savedmodel"}[args.format]
    for row in cards.catalogue():
        src = Path(row["path"])
        dest = (Path(args.out) if args.out else src.parent) / (src.stem + suffix)
        if files.up_to_date(dest, src):
            print(f"up to date: {dest}")
            continue
        print(f"wrote {export.export(src, args.format, Path(args.out) if args.out else None)}")
    return EXIT_OK


def cmd_pipeline(args) -> int:
    from wic.experiments import pipeline

    out = pipeline.run_pipeline(args.profile, Path(args.out) if args.out else None, args.only,
                                timeout=args.timeout, publish=args.publish)
    print(f"executed notebooks and logs: {out}")
    return EXIT_OK


def cmd_sweep(args) -> int:
    from wic.experiments import sweep

    notebook = Path(args.notebook)
    defaults = sweep.declared_defaults(notebook) if notebook.is_file() else {}
    try:
        result = sweep.run_sweep(notebook, sweep.parse_cli_params(args.param or [], defaults),
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
    print(f"table: {result.table_csv}")
    if result.table_parquet:
        print(f"       {result.table_parquet}")
    else:
        print("       (no Parquet copy: pip install 'wic[cluster]' for pyarrow)")
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
                                   "runs/OUT/OUT.keras + OUT.json (its card) and its figures. "
                                   "Re-running resumes an interrupted run. Ship a finished "
                                   "model with: wic models promote OUT.")
    t.add_argument("--model", default="seed_v1_3", help="registry model (see: wic models --registry)")
    t.add_argument("--recipe", default="seed", help="base recipe: seed, fast or fast94 (default: seed)")
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
    t.add_argument("--test-subset", type=int, metavar="N",
                   help="score the finished model on the first N test images only (smoke runs: "
                        "the card records test_subset N and wic models promote refuses it)")
    t.add_argument("--time-budget-s", type=float, help="stop training after this many seconds")
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--no-early-stopping", action="store_true")
    t.add_argument("--no-reduce-lr", action="store_true")
    t.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="any other recipe field (repeatable), e.g. --set lookahead=false "
                        "--set flip=random (booleans: true/false, yes/no, 1/0)")
    t.add_argument("--model-arg", action="append", metavar="NAME=VALUE",
                   help="a builder argument of the model (repeatable), e.g. --model-arg whiten=false")
    t.add_argument("--dry-run", action="store_true",
                   help="print the resolved recipe and model, then exit (no data is loaded)")
    t.add_argument("--run-dir", help="run folder for checkpoints, model and card (default: runs/OUT)")
    t.add_argument("--restart", action="store_true", help="ignore a checkpoint and start over")
    t.add_argument("--threads", type=int, help="TensorFlow intra-op threads")
    t.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                   help="Keras progress: 1 bar, 2 one line per epoch (default)")
    data_args(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a saved model on the CIFAR-10 test set")
    e.add_argument("--model", help="model name in models/ or a .keras path (default: best)")
    e.add_argument("--figures", action="store_true",
                   help="also write the confusion-matrix figure (into runs/evaluate/)")
    e.add_argument("--figures-dir", help="folder for --figures (default: runs/evaluate)")
    e.add_argument("--robustness", action="store_true",
                   help="also run CIFAR-10-C (regenerated): 15 corruptions x 5 severities")
    e.add_argument("--backend", default="keras", choices=("keras", "onnx"),
                   help="run the model with Keras (default) or its ONNX export (float32, no "
                        "TensorFlow; much faster where bfloat16 is emulated)")
    e.add_argument("--robustness-subset", type=int, default=None, metavar="N",
                   help="run the corruption benchmark on the first N test images (default: all)")
    e.add_argument("--write-card", action="store_true",
                   help="with --robustness: record the benchmark in the model's card")
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
    pr.add_argument("--backend", default="keras", choices=("keras", "onnx"),
                    help="keras (default) or onnx (needs wic export NAME --format onnx first)")
    pr.set_defaults(func=cmd_predict)

    pl = sub.add_parser("pipeline", help="execute the notebooks in order with papermill",
                        description="Run notebooks 01..07 with papermill into a fresh folder "
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
                    "OUT/runs.csv (and OUT/runs.parquet with the cluster extra). Re-running "
                    "skips finished runs and retries failed ones. Values are typed by the "
                    "parameter's default: true/false/yes/no/1/0, 1e-3, none, 'text'.")
    sw.add_argument("notebook", help="the .ipynb to run (it needs a cell tagged 'parameters')")
    sw.add_argument("-p", "--param", nargs="+", action="append", metavar=("NAME", "VALUE"),
                    help="a parameter and its values, e.g. -p learning_rate 1e-3 3e-3 (repeatable)")
    sw.add_argument("--grid", help="YAML/JSON file: grid (name: [values]), runs (list), fixed, seeds")
    sw.add_argument("--seeds", nargs="+", type=int, help="repeat every run with these seeds "
                    "(injected as the parameter 'seed')")
    sw.add_argument("--out", help="output folder (default: sweeps/<notebook name>)")
    sw.add_argument("--workers", type=int, help="parallel runs (default: min(cores, runs))")
    sw.add_argument("--dask", metavar="local|tcp://HOST:PORT",
                    help="run on a Dask LocalCluster ('local') or an existing scheduler "
                         "(needs pip install 'wic[cluster]')")
    sw.add_argument("--timeout", type=float, help="seconds a run's cells may take before its "
                    "kernel is killed and the run recorded as failed (default: no limit)")
    sw.set_defaults(func=cmd_sweep)

    m = sub.add_parser("models", help="list shipped models; promote a finished run into models/",
                       description="List the shipped models (models/) with their cards' test "
                                   "accuracy, or ship a finished training run: "
                                   "wic models promote NAME.")
    m.add_argument("--registry", action="store_true",
                   help="list the model builders of the registry instead")
    m.add_argument("--markdown", action="store_true",
                   help="print the README's model table (numbers read from the model cards)")
    m.add_argument("--update-readme", metavar="README",
                   help="rewrite the model table between the markers in this file")
    msub = m.add_subparsers(dest="models_command")
    mp = msub.add_parser("promote", help="copy runs/NAME/NAME.keras and its card into models/")
    mp.add_argument("name", help="a finished run's name (runs/NAME/) or a .keras path")
    mp.add_argument("--force", action="store_true", help="replace a shipped model of that name")
    m.set_defaults(func=cmd_models)

    x = sub.add_parser("export", help="export a model to ONNX or a TensorFlow SavedModel",
                       description="Write NAME as a file that runs without wic: ONNX (for ONNX "
                                   "Runtime; needs pip install 'wic[export]') or a TensorFlow "
                                   "SavedModel. Default output: beside the model.")
    x.add_argument("name", nargs="?", help="model name in models/ or a .keras path")
    x.add_argument("--all", action="store_true",
                   help="every model in the models folder whose export is missing or older "
                        "than its .keras file (what `make app` runs)")
    x.add_argument("--format", default="onnx", choices=("onnx", "savedmodel"))
    x.add_argument("--out", help="output folder (default: the model's folder)")
    x.set_defaults(func=cmd_export)
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
    except (ValueError, FileNotFoundError, KeyError) as exc:
        # DataError, ImageError, ModelError, ParameterError and SweepError are ValueErrors:
        # one line naming what was wrong and what is accepted, never a traceback
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"wic {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
