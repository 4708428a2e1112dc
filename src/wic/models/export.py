"""Models that travel: a ``.keras`` model as ONNX (for onnxruntime) or as a TensorFlow SavedModel.

    from wic.models import export
    export.export("fast_cpu_v2", "onnx", "dist/")          # -> dist/fast_cpu_v2.onnx
    export.export("models/seed_v1_3.keras", "savedmodel", "dist/")  # -> dist/seed_v1_3_savedmodel/
    export.export_onnx(model, "x.onnx"); export.export_savedmodel(model, "x_savedmodel")

The ONNX file takes what the Keras model takes — float32 RGB in ``[0, 1]``, NHWC
``(batch, 32, 32, 3)``, input ``image`` — and returns ``probabilities`` ``(batch, 10)``; the
test-time augmentation of the airbench nets is inside it, as in the ``.keras`` file. It is read
with numpy + onnxruntime alone by :mod:`wic.serving.onnx_backend`. The SavedModel is Keras'
``model.export(format="tf_saved_model")``: ``tf.saved_model.load(path).serve(x)`` with plain
TensorFlow, no ``wic`` import (the custom layers are traced into the graph).

Why our own converter (route ``"native"``, the default) and not tf2onnx
    Tried first, with tf2onnx 1.17.0, TensorFlow 2.21, Keras 3.15.1, numpy 2.4, onnx 1.23.2,
    onnxruntime 1.32.0: Keras' ``model.export(path, format="onnx")`` (which drives tf2onnx)

    - refuses a model loaded from disk until it has been called once ("never called");
    - converts the seed net exactly (max |prob diff| ~1e-6) once it has been called;
    - cannot convert the airbench nets: their ``mixed_bfloat16`` layers give a graph that
      mixes ``bfloat16`` and ``float16`` (onnxruntime refuses to load it), and with a float32
      clone of the net, TensorFlow 2.21 lowers exact GELU to ``Erfc``, an op tf2onnx has no
      handler for (the file is written but is not a valid model).

    Patching around both (a float32 clone, an ``Erfc`` handler, on top of the numpy-2 patch Keras
    already applies to tf2onnx) works but stacks three workarounds on a converter that lags
    TensorFlow. The nets are short chains of a dozen layer kinds, so this module writes the ONNX
    graph itself with ``onnx.helper`` from the layers' weights: every layer maps to a few ONNX
    nodes (table below), the graph runs NCHW (one Transpose at the input), BatchNorm is folded
    into the conv right before it (after a pool: a per-channel Mul + Add), and everything is
    computed in float32 whatever the Keras dtype policy. It needs only ``onnx`` (no tf2onnx),
    converts in 0.02-0.1 s (tf2onnx: 3-5 s; plus ~1-2 s for the onnxruntime self-check of
    :func:`verify_onnx`) and agrees with the Keras model computed in float32 to ~1e-6 on the
    CIFAR-10 test set (100 % identical top-1). Against the *bfloat16* Keras net the difference
    is bfloat16 rounding, not conversion: fast_cpu_v1 on the 10,000 test images, 99.88 %
    identical top-1 and max |prob diff| 0.014 (the float32 file scores 91.60 %, the bfloat16
    net 91.57 %). A model with a layer outside the table raises :class:`ExportError` under
    ``route="native"``; ``route="auto"`` then falls back to tf2onnx (with the workarounds
    above), ``route="tf2onnx"`` forces it.

Layer → ONNX (``route="native"``)
    InputLayer, Dropout, SpatialDropout, GaussianNoise ...: nothing (inference);
    Conv2D, PatchWhitening: Conv (+ activation); BatchNormalization, ScaledBiasBatchNorm: folded
    into the previous Conv, else Mul + Add; MaxPooling2D / AveragePooling2D: MaxPool /
    AveragePool; GlobalMax/AveragePooling2D: GlobalMaxPool / GlobalAveragePool (+ Flatten);
    Flatten: Transpose to NHWC + Flatten (Keras' element order); Dense: MatMul (+ Add);
    Rescaling: Mul + Add; Activation: Relu, Sigmoid, Tanh, Softmax, exact GELU
    ``0.5·x·(1 + erf(x/√2))`` or tanh GELU, SiLU; TestTimeAugment: Slice (mirror),
    Pad(reflect) + Slice (shifts), Concat on the batch axis, views-major; TestTimeMerge:
    Reshape ``(views, batch, classes)``, Mul by ``TTA_WEIGHTS``, ReduceSum.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np

from wic.files import atomic_replace

FORMATS = ("onnx", "savedmodel")
ROUTES = ("native", "auto", "tf2onnx")
DEFAULT_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "image", "probabilities"

# layers that are the identity at inference
_IDENTITY = {"InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
             "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity"}


class ExportError(ValueError):
    """A model this module cannot export (a layer it does not know, an odd topology)."""


# ----------------------------------------------------------------------------- public API


def export_onnx(model, path: str | os.PathLike, *, opset: int = DEFAULT_OPSET,
                route: str = "native", check: bool = True, verify: bool = True) -> Path:
    """Write ``model`` (a Keras CIFAR-10 classifier) to ``path`` as ONNX; returns the path.

    ``route``: ``"native"`` (our converter, see the module docstring), ``"tf2onnx"`` (Keras'
    exporter through tf2onnx, needs ``pip install tf2onnx``) or ``"auto"`` (native, else
    tf2onnx for a layer the native converter does not know). ``check``: run
    ``onnx.checker`` on the result (cheap). ``verify``: run the file with onnxruntime (when
    installed) against the Keras model computed in float32 and raise :class:`ExportError` if
    they differ by more than 1e-4 (:func:`verify_onnx`; about a second). The write is atomic:
    a file that fails either check is removed, and what was at ``path`` before is kept.
    """
    if route not in ROUTES:
        raise ValueError(f"route={route!r}; accepted: {', '.join(ROUTES)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    proto = None
    if route in ("native", "auto"):
        try:
            proto = to_onnx(model, opset=opset)
        except ExportError:
            if route == "native":
                raise
    with atomic_replace(path) as tmp:
        if proto is not None:
            if check:
                import onnx

                onnx.checker.check_model(proto, full_check=True)
            tmp.write_bytes(proto.SerializeToString())
        else:
            _export_tf2onnx(model, tmp, opset=opset, check=check)
        if verify and importlib.util.find_spec("onnxruntime") is not None:
            verify_onnx(model, tmp)
    return path


def export_savedmodel(model, path: str | os.PathLike) -> Path:
    """Write ``model`` as a TensorFlow SavedModel folder at ``path``; returns the path.

    Loads with plain TensorFlow: ``tf.saved_model.load(path).serve(x)`` (float32 NHWC in
    ``[0, 1]`` → probabilities). The folder is written beside ``path`` and renamed into place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.export(str(tmp), format="tf_saved_model", verbose=False)
        if path.exists():
            old = path.with_name(f".{path.name}.{os.getpid()}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def export(name_or_path: str | os.PathLike, fmt: str = "onnx",
           out_dir: str | os.PathLike | None = None, **kwargs) -> Path:
    """Load a model (a ``.keras`` path, or a name in the models folder) and export it.

    ``fmt``: ``"onnx"`` → ``out_dir/<stem>.onnx``; ``"savedmodel"`` (or ``"tf_saved_model"``)
    → ``out_dir/<stem>_savedmodel/``. ``out_dir`` defaults to the model's own folder (where
    :class:`wic.serving.Classifier` looks for ``<stem>.onnx``). Extra keyword arguments go
    to :func:`export_onnx`.
    """
    from wic import config
    from wic.models.io import load

    fmt = {"tf_saved_model": "savedmodel", "saved_model": "savedmodel"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}; accepted: {', '.join(FORMATS)}")
    src = Path(name_or_path)
    if src.suffix != ".keras" and not src.exists():
        src = config.models_dir() / f"{name_or_path}.keras"
    model = load(src)
    out_dir = src.parent if out_dir is None else Path(out_dir)
    if fmt == "onnx":
        return export_onnx(model, out_dir / f"{src.stem}.onnx", **kwargs)
    return export_savedmodel(model, out_dir / f"{src.stem}_savedmodel")


# ----------------------------------------------------------------------------- the graph


class _Graph:
    """Nodes and initializers being written, with fresh names."""

    def __init__(self):
        self.nodes, self.inits, self._n = [], [], 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value, hint: str = "c", dtype=np.float32) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs, hint: str | None = None, **attrs) -> str:
        from onnx import helper

        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out


class _T:
    """The running tensor: its ONNX name and rank (rank 4 is laid out NCHW, rank 2 is
    (batch, features))."""

    def __init__(self, name: str, rank: int, conv=None):
        self.name, self.rank = name, rank
        self.conv = conv  # the Conv node that produced it with no activation (BN folds into it)


def _chain(model):
    """The model's layers in order, checking that each one feeds only the next."""
    if type(model).__name__ == "Sequential":
        return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ExportError("only single-input, single-output models are supported")
    out, prev = [], model.inputs[0]._keras_history[0]
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        nodes = layer._inbound_nodes
        if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
            raise ExportError(f"layer {layer.name!r} is shared or has several inputs: only "
                              "plain chains of layers are supported")
        if nodes[0].input_tensors[0]._keras_history[0] is not prev:
            raise ExportError(f"layer {layer.name!r} does not take the previous layer's output: "
                              "only plain chains of layers are supported")
        out.append(layer)
        prev = layer
    if model.outputs[0]._keras_history[0] is not prev:
        raise ExportError("the model's output is not its last layer's")
    return out


def to_onnx(model, *, opset: int = DEFAULT_OPSET):
    """The ``onnx.ModelProto`` of ``model`` (route ``"native"``); :class:`ExportError` if a
    layer is not in the module docstring's table."""
    from onnx import TensorProto, helper

    if opset < 13:
        raise ExportError(f"opset {opset} is too old; 13 or newer is needed")
    in_shape = tuple(model.inputs[0].shape)
    if len(in_shape) != 4:
        raise ExportError(f"input shape {in_shape}: an NHWC image input is expected")
    layers = _chain(model)
    unknown = sorted({type(la).__name__ for la in layers}
                     - set(_CONVERTERS) - _IDENTITY)
    if unknown:
        raise ExportError(f"no ONNX converter for layer type(s) {', '.join(unknown)}")
    g = _Graph()
    x = _T(g.op("Transpose", [INPUT_NAME], "to_nchw", perm=[0, 3, 1, 2]), 4)
    for layer in layers:
        kind = type(layer).__name__
        if kind in _IDENTITY:
            continue
        x = _CONVERTERS[kind](g, layer, x)
    if x.rank != 2:
        raise ExportError(f"the model's output has rank {x.rank}; (batch, classes) expected")
    g.nodes.append(helper.make_node("Identity", [x.name], [OUTPUT_NAME], name=OUTPUT_NAME))
    n_out = int(model.outputs[0].shape[-1])
    graph = helper.make_graph(
        g.nodes, model.name or "model",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", *in_shape[1:]])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", n_out])],
        initializer=g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="wic.models.export", producer_version="native")
    proto.ir_version = helper.find_min_ir_version_for(list(proto.opset_import))  # old runtimes
    proto.doc_string = (f"{model.name}: float32 RGB [0, 1] NHWC (batch, 32, 32, 3) -> "
                        f"{n_out} probabilities; test-time augmentation inside")
    _set_metadata(proto, model, "native")
    return proto


def _set_metadata(proto, model, route: str) -> None:
    from onnx import helper

    from wic.config import CLASS_NAMES

    tta = [int(la.level) for la in model.layers if type(la).__name__ == "TestTimeAugment"
           and getattr(la, "enabled", True)]
    meta = {"class_names": json.dumps(list(CLASS_NAMES)), "keras_name": model.name,
            "input": "float32 RGB [0,1] NHWC (batch,32,32,3)", "output": "probabilities",
            "tta_level": str(tta[0] if tta else 0), "route": route,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    helper.set_model_props(proto, meta)


# ----------------------------------------------------------------------------- layers


def _np(v) -> np.ndarray:
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float64)


def _activation(g: _Graph, fn, x: _T, hint: str) -> _T:
    """The ONNX nodes of a Keras activation function (``None``/linear: none)."""
    name = getattr(fn, "__name__", str(fn)) if fn is not None else "linear"
    if name == "linear":
        return x
    if name == "relu":
        return _T(g.op("Relu", [x.name], hint), x.rank)
    if name in ("sigmoid", "tanh"):
        return _T(g.op(name.capitalize(), [x.name], hint), x.rank)
    if name in ("silu", "swish"):
        return _T(g.op("Mul", [x.name, g.op("Sigmoid", [x.name])], hint), x.rank)
    if name == "softmax":
        return _T(g.op("Softmax", [x.name], hint, axis=1 if x.rank == 4 else -1), x.rank)
    if name in ("gelu", "gelu_erf", "gelu_tanh"):
        if name == "gelu_tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            cube = g.op("Mul", [x.name, g.op("Mul", [x.name, x.name])])
            inner = g.op("Add", [x.name, g.op("Mul", [cube, g.const(0.044715)])])
            t = g.op("Tanh", [g.op("Mul", [inner, g.const(math.sqrt(2 / math.pi))])])
        else:  # exact: 0.5 x (1 + erf(x / sqrt 2))
            t = g.op("Erf", [g.op("Mul", [x.name, g.const(1 / math.sqrt(2))])])
        half_x = g.op("Mul", [x.name, g.const(0.5)])
        return _T(g.op("Mul", [half_x, g.op("Add", [t, g.const(1.0)])], hint), x.rank)
    raise ExportError(f"no ONNX converter for activation {name!r}")


def _check_channels_last(layer) -> None:
    fmt = getattr(layer, "data_format", "channels_last")
    if fmt != "channels_last":
        raise ExportError(f"layer {layer.name!r}: data_format {fmt!r}; channels_last expected")


def _pads(layer) -> dict:
    padding = getattr(layer, "padding", "valid")
    if padding == "same":
        return {"auto_pad": "SAME_UPPER"}  # TensorFlow's "same": the extra pixel at the end
    if padding == "valid":
        return {"auto_pad": "VALID"}
    raise ExportError(f"layer {layer.name!r}: padding {padding!r} is not supported")


def _conv(g: _Graph, kernel, bias, x: _T, hint: str, *, strides=(1, 1), dilations=(1, 1),
          pads: dict) -> _T:
    w = np.transpose(kernel, (3, 2, 0, 1))  # (kh, kw, cin, cout) -> (cout, cin, kh, kw)
    inputs = [x.name, g.const(w, f"{hint}_w")]
    if bias is not None:
        inputs.append(g.const(bias, f"{hint}_b"))
    out = g.op("Conv", inputs, hint, kernel_shape=list(w.shape[2:]), strides=list(strides),
               dilations=list(dilations), **pads)
    return _T(out, 4, conv=g.nodes[-1])


def _conv2d(g: _Graph, layer, x: _T) -> _T:
    _check_channels_last(layer)
    if x.rank != 4:
        raise ExportError(f"layer {layer.name!r} needs an image input")
    if int(getattr(layer, "groups", 1)) != 1:
        raise ExportError(f"layer {layer.name!r}: grouped convolutions are not supported")
    bias = _np(layer.bias) if layer.use_bias else None
    y = _conv(g, _np(layer.kernel), bias, x, layer.name, strides=layer.strides,
              dilations=layer.dilation_rate, pads=_pads(layer))
    return _activation(g, layer.activation, y, f"{layer.name}_act")


def _patch_whitening(g: _Graph, layer, x: _T) -> _T:
    bias = _np(layer.offset) + _np(layer.bias)
    return _conv(g, _np(layer.kernel), bias, x, layer.name, pads={"auto_pad": "VALID"})


def _scale_shift(g: _Graph, scale: np.ndarray, shift: np.ndarray, x: _T, hint: str) -> _T:
    """``x * scale + shift`` per channel: folded into the Conv that made ``x`` if it can be."""
    if x.conv is not None:  # conv(x, W) * s + t == conv(x, W * s) + (b * s + t)
        node = x.conv
        by_name = {t.name: t for t in g.inits}
        from onnx import numpy_helper

        w = numpy_helper.to_array(by_name[node.input[1]]).astype(np.float64)
        b = (numpy_helper.to_array(by_name[node.input[2]]).astype(np.float64)
             if len(node.input) > 2 else np.zeros(w.shape[0]))
        by_name[node.input[1]].CopyFrom(numpy_helper.from_array(
            (w * scale[:, None, None, None]).astype(np.float32), node.input[1]))
        new_b = (b * scale + shift).astype(np.float32)
        if len(node.input) > 2:
            by_name[node.input[2]].CopyFrom(numpy_helper.from_array(new_b, node.input[2]))
        else:
            node.input.append(g.const(new_b, f"{node.name}_b"))
        return _T(x.name, 4, conv=node)
    shape = (1, -1, 1, 1) if x.rank == 4 else (1, -1)
    y = g.op("Mul", [x.name, g.const(scale.reshape(shape), f"{hint}_scale")])
    return _T(g.op("Add", [y, g.const(shift.reshape(shape), f"{hint}_shift")], hint), x.rank)


def _batch_norm(g: _Graph, layer, x: _T) -> _T:
    """Inference BatchNorm as TensorFlow computes it: ``x * inv + (beta - mean * inv)``,
    ``inv = gamma / sqrt(var + eps)``; ScaledBiasBatchNorm adds ``bias_scale * bias_raw``."""
    axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
    if axis not in (-1, x.rank - 1):
        raise ExportError(f"layer {layer.name!r}: BatchNorm over axis {axis}; the channel "
                          "axis (-1) is expected")
    inv = 1.0 / np.sqrt(_np(layer.moving_variance) + float(layer.epsilon))
    if layer.scale:
        inv = inv * _np(layer.gamma)
    shift = -_np(layer.moving_mean) * inv
    if layer.center:
        shift = shift + _np(layer.beta)
    if hasattr(layer, "bias_raw"):
        shift = shift + float(layer.bias_scale) * _np(layer.bias_raw)
    return _scale_shift(g, inv, shift, x, layer.name)


def _pool(g: _Graph, layer, x: _T) -> _T:
    _check_channels_last(layer)
    op = "MaxPool" if type(layer).__name__.startswith("Max") else "AveragePool"
    attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides),
             **_pads(layer)}
    if op == "AveragePool":
        attrs["count_include_pad"] = 0  # Keras averages over the valid pixels only
    return _T(g.op(op, [x.name], layer.name, **attrs), 4)


def _global_pool(g: _Graph, layer, x: _T) -> _T:
    _check_channels_last(layer)
    op = "GlobalMaxPool" if type(layer).__name__.startswith("GlobalMax") else "GlobalAveragePool"
    y = g.op(op, [x.name], layer.name)  # (N, C, 1, 1): NCHW of Keras' keepdims (N, 1, 1, C)
    if getattr(layer, "keepdims", False):
        return _T(y, 4)
    return _T(g.op("Flatten", [y], f"{layer.name}_flat", axis=1), 2)


def _flatten(g: _Graph, layer, x: _T) -> _T:
    _check_channels_last(layer)
    if x.rank == 4:  # Keras flattens NHWC: back to that order first
        nhwc = g.op("Transpose", [x.name], f"{layer.name}_nhwc", perm=[0, 2, 3, 1])
        return _T(g.op("Flatten", [nhwc], layer.name, axis=1), 2)
    return _T(g.op("Flatten", [x.name], layer.name, axis=1), 2)


def _dense(g: _Graph, layer, x: _T) -> _T:
    if x.rank != 2:
        raise ExportError(f"layer {layer.name!r}: Dense on a rank-{x.rank} input is not "
                          "supported (flatten or pool first)")
    y = g.op("MatMul", [x.name, g.const(_np(layer.kernel), f"{layer.name}_w")], layer.name)
    if layer.use_bias:
        y = g.op("Add", [y, g.const(_np(layer.bias), f"{layer.name}_b")], f"{layer.name}_bias")
    return _activation(g, layer.activation, _T(y, 2), f"{layer.name}_act")


def _rescaling(g: _Graph, layer, x: _T) -> _T:
    def channelwise(v):
        v = np.asarray(v, dtype=np.float64)
        if v.size > 1 and x.rank == 4:
            v = v.reshape(-1, 1, 1)  # per-channel values, broadcast over NCHW
        return v

    y = g.op("Mul", [x.name, g.const(channelwise(layer.scale), f"{layer.name}_scale")],
             layer.name)
    if np.any(np.asarray(layer.offset) != 0):
        y = g.op("Add", [y, g.const(channelwise(layer.offset), f"{layer.name}_offset")])
    return _T(y, x.rank)


def _activation_layer(g: _Graph, layer, x: _T) -> _T:
    return _activation(g, layer.activation, x, layer.name)


def _softmax_layer(g: _Graph, layer, x: _T) -> _T:
    if layer.axis not in (-1, x.rank - 1):
        raise ExportError(f"layer {layer.name!r}: softmax over axis {layer.axis}")
    return _T(g.op("Softmax", [x.name], layer.name, axis=1 if x.rank == 4 else -1), x.rank)


def _tta_active(layer) -> bool:
    return bool(layer.level) and getattr(layer, "enabled", True)


def _test_time_augment(g: _Graph, layer, x: _T) -> _T:
    """The views of :class:`wic.models.airbench.TestTimeAugment`, NCHW, stacked views-major."""
    if not _tta_active(layer):
        return x
    big = np.iinfo(np.int64).max

    def i64(*v):
        return g.const(np.array(v, dtype=np.int64), "idx", dtype=np.int64)

    def mirror(t):  # reverse the W axis (3 in NCHW)
        return g.op("Slice", [t, i64(-1), i64(-big), i64(3), i64(-1)], f"{layer.name}_mirror")

    views = [x.name, mirror(x.name)]
    if layer.level >= 2:
        pads = i64(0, 0, 1, 1, 0, 0, 1, 1)  # NCHW begins, then ends: one pixel around H and W
        padded = g.op("Pad", [x.name, pads], f"{layer.name}_pad", mode="reflect")
        for start, stop in ((0, -2), (2, big)):  # padded[0:h, 0:w], padded[2:h+2, 2:w+2]
            s = g.op("Slice", [padded, i64(start, start), i64(stop, stop), i64(2, 3)],
                     f"{layer.name}_shift")
            views += [s, mirror(s)]
    return _T(g.op("Concat", views, layer.name, axis=0), 4)


def _test_time_merge(g: _Graph, layer, x: _T) -> _T:
    """:class:`wic.models.airbench.TestTimeMerge`: the weighted sum of each image's views."""
    if not _tta_active(layer):
        return x
    from wic.models.airbench import TTA_WEIGHTS

    if x.rank != 2:
        raise ExportError(f"layer {layer.name!r}: views of rank {x.rank}; logits expected")
    w = np.asarray(TTA_WEIGHTS[layer.level], dtype=np.float64)
    classes = int(layer.output.shape[-1])
    shape = g.const(np.array([len(w), -1, classes], dtype=np.int64), "shape", dtype=np.int64)
    v = g.op("Reshape", [x.name, shape], f"{layer.name}_views")  # (views, batch, classes)
    weighted = g.op("Mul", [v, g.const(w.reshape(-1, 1, 1), f"{layer.name}_w")])
    axes = g.const(np.array([0], dtype=np.int64), "axes", dtype=np.int64)
    return _T(g.op("ReduceSum", [weighted, axes], layer.name, keepdims=0), 2)


_CONVERTERS = {
    "Conv2D": _conv2d,
    "PatchWhitening": _patch_whitening,
    "BatchNormalization": _batch_norm,
    "ScaledBiasBatchNorm": _batch_norm,
    "MaxPooling2D": _pool,
    "AveragePooling2D": _pool,
    "GlobalMaxPooling2D": _global_pool,
    "GlobalAveragePooling2D": _global_pool,
    "Flatten": _flatten,
    "Dense": _dense,
    "Rescaling": _rescaling,
    "Activation": _activation_layer,
    "ReLU": lambda g, layer, x: _T(g.op("Relu", [x.name], layer.name), x.rank),
    "Softmax": _softmax_layer,
    "TestTimeAugment": _test_time_augment,
    "TestTimeMerge": _test_time_merge,
}


# ----------------------------------------------------------------------------- tf2onnx route


def float32_clone(model):
    """``model`` rebuilt with every layer's dtype policy float32, same weights."""
    def f32(obj):
        if isinstance(obj, dict):
            if obj.get("class_name") == "DTypePolicy":
                return {**obj, "config": {**obj.get("config", {}), "name": "float32"}}
            return {k: f32(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [f32(v) for v in obj]
        return obj

    clone = type(model).from_config(f32(model.get_config()))
    clone.set_weights(model.get_weights())
    for src, dst in zip(model.layers, clone.layers):
        if hasattr(src, "enabled"):  # TestTimeAugment/Merge switched off: not in the config
            dst.enabled = src.enabled
    return clone


def _float32_reference(model):
    """``model`` itself when it computes in float32, else its float32 clone."""
    mixed = any(getattr(layer.dtype_policy, "compute_dtype", "float32") != "float32"
                for layer in model.layers)
    return float32_clone(model) if mixed else model


def verify_onnx(model, path: str | os.PathLike, *, n: int = 8, atol: float = 1e-4) -> float:
    """The max |probability difference| between the ONNX file (onnxruntime) and ``model``
    computed in float32, on ``n`` fixed noise images; :class:`ExportError` above ``atol``."""
    import onnxruntime as ort

    x = np.random.default_rng(0).integers(0, 256, (n, *model.inputs[0].shape[1:]))
    x = (x / 255.0).astype(np.float32)
    ref = np.asarray(_float32_reference(model)(x, training=False), dtype=np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    diff = float(np.abs(out - ref).max()) if out.shape == ref.shape else math.inf
    if not diff <= atol:
        raise ExportError(f"{Path(path).name}: onnxruntime and Keras (float32) disagree by "
                          f"{diff:.3g} on {n} test images (tolerance {atol:g}); output shapes "
                          f"{out.shape} and {ref.shape}")
    return diff


def _register_erfc_handler() -> None:
    """tf2onnx 1.17 has no handler for TensorFlow's ``Erfc`` (exact GELU): ``1 - erf(x)``."""
    from tf2onnx.handler import tf_op

    mapping = tf_op.get_opsets().get("", [])
    if any("Erfc" in ops for ops in mapping):
        return

    from tf2onnx import utils

    def erfc(ctx, node, **kwargs):
        node.type = "Erf"
        neg = ctx.insert_new_node_on_output("Neg", node.output[0])
        one = ctx.make_const(utils.make_name("erfc_one"), np.array(1.0, dtype=np.float32))
        ctx.insert_new_node_on_output("Add", neg.output[0], inputs=[neg.output[0],
                                                                  one.output[0]])

    tf_op.register_handler(erfc, 9, ["Erfc"], "", {})


def _export_tf2onnx(model, path: Path, *, opset: int, check: bool) -> None:
    import onnx

    from wic.backend import tf

    try:
        import tf2onnx  # noqa: F401 - Keras' exporter imports it
    except ImportError:
        raise ExportError("route 'tf2onnx' needs the tf2onnx package (pip install "
                          "tf2onnx)") from None
    _register_erfc_handler()
    clone = float32_clone(model)
    clone(np.zeros((1, *model.inputs[0].shape[1:]), dtype=np.float32))  # "never called" check
    sig = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name=INPUT_NAME)]
    clone.export(str(path), format="onnx", input_signature=sig, opset_version=opset,
                 verbose=False)
    proto = onnx.load(str(path))
    if check:
        onnx.checker.check_model(proto)
    if len(proto.graph.output) == 1:  # the same output name as the native route's
        old = proto.graph.output[0].name
        for node in proto.graph.node:
            node.output[:] = [OUTPUT_NAME if o == old else o for o in node.output]
        proto.graph.output[0].name = OUTPUT_NAME
    _set_metadata(proto, model, "tf2onnx")
    path.write_bytes(proto.SerializeToString())
