"""Muon for the convolution filters, SGD with Nesterov momentum for everything else.

**The idea.** Plain SGD moves every filter along its gradient. A 3x3 convolution's gradient,
read as a matrix (one row per output channel), is usually dominated by a few directions, so
most of the filter bank barely moves. Muon (Keller Jordan, 2024; the optimiser of airbench94's
8-epoch record) keeps a momentum of the gradient, then replaces that matrix ``G = U S V^T`` by
its nearest *orthogonal* matrix ``U V^T``: every direction of the update gets the same size.
Five Newton-Schulz iterations (matrix multiplies only) approximate ``U V^T``; no SVD.

As in airbench94_muon, each filter bank is rescaled to norm ``sqrt(output channels)`` before
its step (the BatchNorm that follows makes the net blind to that scale, so this only fixes the
step's relative size), and it gets no weight decay. BatchNorm biases, the whitening bias and
the head keep the recipe's SGD (learning rate, momentum, decoupled weight decay). Both groups
follow the recipe's schedule: the filters' learning rate is ``muon_lr`` times the schedule's
current fraction of its peak.

Keras 3's own ``keras.optimizers.Muon`` only orthogonalises 2-D weights (dense layers) and gives
convolution kernels AdamW, which is not what made the record, hence this class.
"""

from __future__ import annotations

from wic.backend import keras

ops = keras.ops

# the quintic Newton-Schulz coefficients of Muon (maximise the slope at zero)
NS_COEFFS = (3.4445, -4.7750, 2.0315)


def orthogonalise(g, steps: int = 5):
    """``U V^T`` of a 2-D ``g``, approximately: five steps grow the small singular values by
    ~3.4x each and keep the large ones near 1 (within ~[0.7, 1.2] once they are not tiny)."""
    a, b, c = NS_COEFFS
    rows, cols = g.shape
    x = ops.transpose(g) if rows > cols else g
    x = x / (ops.sqrt(ops.sum(ops.square(x))) + 1e-7)  # spectral norm <= Frobenius norm <= 1
    for _ in range(steps):
        xx = ops.matmul(x, ops.transpose(x))
        x = a * x + ops.matmul(b * xx + c * ops.matmul(xx, xx), x)
    return ops.transpose(x) if rows > cols else x


def is_filter(variable) -> bool:
    """The weights Muon moves: 3x3 convolution kernels (Keras layout ``kh, kw, in, out``)."""
    return len(variable.shape) == 4 and variable.shape[0] == 3 and variable.shape[1] == 3


@keras.saving.register_keras_serializable(package="wic")
class MuonSGD(keras.optimizers.SGD):
    """Muon (``muon_lr``, ``muon_momentum``, Nesterov) for 3x3 filters; SGD for the rest."""

    def __init__(self, learning_rate=0.01, *, peak_learning_rate: float = 0.01,
                 muon_lr: float = 0.24, muon_momentum: float = 0.6, ns_steps: int = 5,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.peak_learning_rate = float(peak_learning_rate)
        self.muon_lr = float(muon_lr)
        self.muon_momentum = float(muon_momentum)
        self.ns_steps = int(ns_steps)

    def build(self, variables):
        if self.built:
            return
        filters = [v for v in variables if is_filter(v)]
        self._filter_keys = {self._var_key(v) for v in filters}
        if self.weight_decay:
            self.exclude_from_weight_decay(var_list=filters)
        super().build(variables)
        if not self.momentums:  # SGD makes them only when momentum != 0; Muon always needs one
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        if self._var_key(variable) not in getattr(self, "_filter_keys", ()):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        g = ops.cast(gradient, dtype)
        buf = self.momentums[self._get_variable_index(variable)]
        mu = ops.cast(self.muon_momentum, dtype)
        self.assign(buf, ops.add(ops.multiply(buf, mu), g))
        g = ops.add(g, ops.multiply(buf, mu))  # Nesterov
        kh, kw, cin, cout = variable.shape
        # the filter bank's norm back to sqrt(out channels) (BN after it ignores the scale)
        scale = ops.sqrt(ops.cast(cout, dtype)) / (ops.sqrt(ops.sum(ops.square(variable))) + 1e-12)
        self.assign(variable, ops.multiply(variable, scale))
        # one row per output channel: (out, kh*kw*in)
        update = orthogonalise(ops.transpose(ops.reshape(g, (kh * kw * cin, cout))),
                               self.ns_steps)
        update = ops.reshape(ops.transpose(update), (kh, kw, cin, cout))
        fraction = ops.cast(learning_rate, dtype) / ops.cast(self.peak_learning_rate, dtype)
        self.assign_sub(variable, ops.multiply(update, fraction * self.muon_lr))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(peak_learning_rate=self.peak_learning_rate, muon_lr=self.muon_lr,
                   muon_momentum=self.muon_momentum, ns_steps=self.ns_steps)
        return cfg
