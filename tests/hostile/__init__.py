"""Generators of hostile and awkward image inputs, built in code at test time (no binary fixtures).

``python tests/hostile/generate.py OUT_DIR`` writes them all to a folder for manual or browser
testing; the tests call the functions directly and keep everything in ``tmp_path``.
"""

from .generate import CASES, Case, write_all  # noqa: F401
