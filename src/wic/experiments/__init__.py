"""Experiments: many runs at once, and what they add up to.

- :mod:`~wic.experiments.sweep` — a notebook over a grid of parameters (papermill; a local
  pool or Dask), one table of results;
- :mod:`~wic.experiments.pipeline` — the course: every notebook in order (``wic pipeline``);
- :mod:`~wic.experiments.ablation` — the ablation studies (one ingredient changed at a time);
- :mod:`~wic.experiments.results` — result tables for the README and ``FAST_RECIPE.md``;
- :mod:`~wic.experiments.shipping` — whether a new model replaces the most accurate shipped one
  (a rule fixed before the candidate's results were seen);
- :mod:`~wic.experiments.record` — ``record(name, value)`` from inside a notebook;
- :mod:`~wic.experiments.nbtools` — what a committed notebook must not carry;
- :mod:`~wic.experiments.course` — the course's exercises and their measured expectations.

Sits above every other subpackage and imports what it needs on use; only :mod:`wic.cli` is
above it.
"""
