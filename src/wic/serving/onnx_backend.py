"""A TensorFlow-free inference backend: an exported ``.onnx`` model on onnxruntime + numpy.

    from wic.serving.onnx_backend import OnnxModel
    model = OnnxModel("dist/fast_cpu_v2.onnx")        # 1 intra-op thread by default
    probs = model.predict(x)                           # (n, 10) float32
    model.top_k(x[0], k=3)                             # [("cat", 0.91), ...]

The model file comes from :func:`wic.models.export.export_onnx`: input ``image`` float32 RGB
in ``[0, 1]`` NHWC ``(batch, 32, 32, 3)`` (as the Keras models take), output 10 probabilities,
test-time augmentation inside. This module imports numpy and onnxruntime only (and the stdlib):
no TensorFlow, no Keras, nothing of ``wic`` but the class names in :mod:`wic.config` when the
file carries none, so it runs in a process that never loads TensorFlow — a page worker of a
few dozen MB instead of several hundred.

Threads: onnxruntime's default is one intra-op thread per core, and its threads spin while
waiting. Thirty worker processes sharing two cores would fight over them, so a session here uses
``intra_op_threads=1`` (and no spinning) unless told otherwise; a lone batch job may pass
``intra_op_threads=0`` (onnxruntime's default: all cores).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

INPUT_SIDE = 32


class OnnxModel:
    """An exported CIFAR-10 classifier, run by onnxruntime on the CPU."""

    def __init__(self, path: str | os.PathLike, *, intra_op_threads: int = 1,
                 inter_op_threads: int = 1, batch_size: int = 256):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(intra_op_threads)
        opts.inter_op_num_threads = int(inter_op_threads)
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3  # errors only
        self.session = ort.InferenceSession(str(self.path), opts,
                                            providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        if len(inp.shape) != 4 or tuple(inp.shape[1:]) != (INPUT_SIDE, INPUT_SIDE, 3):
            raise ValueError(f"{self.path.name}: input {inp.name} has shape {inp.shape}; an "
                             f"NHWC (batch, {INPUT_SIDE}, {INPUT_SIDE}, 3) image input is expected")
        self.input_name = inp.name
        self.output_name = self.session.get_outputs()[0].name
        self.batch_size = max(1, int(batch_size))
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.class_names = self._class_names()

    def _class_names(self) -> tuple[str, ...]:
        names = self.metadata.get("class_names")
        if names:
            try:
                return tuple(json.loads(names))
            except (ValueError, TypeError):
                pass
        from wic.config import CLASS_NAMES  # cheap: no TensorFlow

        return tuple(CLASS_NAMES)

    @staticmethod
    def to_input(x) -> np.ndarray:
        """uint8 0..255 or float [0, 1] images, ``(32, 32, 3)`` or ``(n, 32, 32, 3)`` → the
        float32 NHWC batch the model takes."""
        a = np.asarray(x)
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4 or a.shape[1:] != (INPUT_SIDE, INPUT_SIDE, 3):
            raise ValueError(f"images of shape {a.shape}; accepted: (32, 32, 3) or "
                             "(n, 32, 32, 3) RGB")
        if a.dtype == np.uint8:
            return a.astype(np.float32) / np.float32(255.0)
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"images of dtype {a.dtype}; accepted: uint8 0..255 or float "
                             "in [0, 1]")
        a = np.ascontiguousarray(a, dtype=np.float32)
        if a.size:
            lo, hi = float(a.min()), float(a.max())
            if not (lo >= -1e-3 and hi <= 1 + 1e-3):  # also catches NaN
                raise ValueError(f"float images hold values {lo:.3g}..{hi:.3g}; accepted: "
                                 "floats in [0, 1] (or uint8 0..255)")
        return a

    def predict(self, x) -> np.ndarray:
        """Probabilities ``(n, 10)`` float32 for uint8 or float [0, 1] images."""
        a = self.to_input(x)
        if not len(a):
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        if len(a) <= self.batch_size:
            return self._run(a)
        return np.concatenate([self._run(a[i:i + self.batch_size])
                               for i in range(0, len(a), self.batch_size)])

    def _run(self, a: np.ndarray) -> np.ndarray:
        out = self.session.run([self.output_name], {self.input_name: a})[0]
        return np.asarray(out, dtype=np.float32)

    def top_k(self, image, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes of one image, most probable first."""
        probs = self.predict(image)
        if len(probs) != 1:
            raise ValueError(f"top_k takes one image, got {len(probs)}")
        order = np.argsort(-probs[0])[:k]
        return [(self.class_names[i], float(probs[0, i])) for i in order]

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r})"
