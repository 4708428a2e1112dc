"""Dataset exploration helpers used by notebook 01: class means, PCA, near-duplicates."""

from __future__ import annotations

import numpy as np


def class_mean_images(x: np.ndarray, y: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """The average image of each class, uint8 (num_classes, 32, 32, 3)."""
    means = np.stack([x[y == c].mean(axis=0) for c in range(num_classes)])
    return means.round().astype(np.uint8)


def pca_embedding(x: np.ndarray, n_components: int = 2, seed: int = 0):
    """PCA of raw pixels (scaled to [0,1]); returns (embedding, explained variance ratios)."""
    from sklearn.decomposition import PCA

    flat = x.reshape(len(x), -1).astype(np.float32) / 255.0
    pca = PCA(n_components=n_components, random_state=seed, svd_solver="randomized")
    return pca.fit_transform(flat), pca.explained_variance_ratio_


def pca_features(x_fit: np.ndarray, *xs: np.ndarray, dims: int = 64, seed: int = 0):
    """Fit PCA on ``x_fit`` and project it and every other array; L2-normalised features."""
    from sklearn.decomposition import PCA

    def flat(a):
        f = a.reshape(len(a), -1).astype(np.float32) / 255.0
        return f - f.mean(axis=1, keepdims=True)  # ignore global brightness

    fit_on = x_fit
    if len(x_fit) > 10_000:  # the principal directions are stable well before 50k images
        fit_on = x_fit[np.random.default_rng(seed).choice(len(x_fit), 10_000, replace=False)]
    pca = PCA(n_components=dims, random_state=seed, svd_solver="randomized").fit(flat(fit_on))
    out = []
    for a in (x_fit, *xs):
        f = pca.transform(flat(a))
        out.append(f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-8))
    return out


def near_duplicates(x_test: np.ndarray, x_train: np.ndarray, top: int = 12, dims: int = 64,
                    chunk: int = 2000, seed: int = 0):
    """Test images whose nearest training image is most similar (cosine in PCA space).

    Cheap: 64-dim features and a chunked matrix product (10k x 50k in a few seconds).
    Returns rows (test_index, train_index, cosine similarity), most similar first, and the
    similarity of every test image to its nearest training image.
    """
    f_train, f_test = pca_features(x_train, x_test, dims=dims, seed=seed)
    best = np.empty(len(f_test), np.float32)
    arg = np.empty(len(f_test), np.int64)
    for i in range(0, len(f_test), chunk):
        sims = f_test[i:i + chunk] @ f_train.T
        arg[i:i + chunk] = sims.argmax(1)
        best[i:i + chunk] = sims[np.arange(len(sims)), arg[i:i + chunk]]
    order = np.argsort(-best)[:top]
    return [(int(t), int(arg[t]), float(best[t])) for t in order], best


def _pixels(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float32) / 255.0


def nearest_neighbour_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                               y_test: np.ndarray, k: int = 5, chunk: int = 500) -> float:
    """Test accuracy of a k-nearest-neighbour vote on raw pixels (Euclidean distance): the
    simplest classifier there is, a baseline every learned model must beat."""
    f_train, f_test = _pixels(x_train), _pixels(x_test)
    sq = (f_train * f_train).sum(1)
    k = int(k)
    right = 0
    for i in range(0, len(f_test), chunk):
        d = sq[None, :] - 2 * f_test[i:i + chunk] @ f_train.T  # |a|^2 is the same for every b
        nn = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.argsort(d, 1)
        votes = np.stack([np.bincount(row, minlength=int(y_train.max()) + 1)
                          for row in y_train[nn]])
        right += int((votes.argmax(1) == y_test[i:i + chunk]).sum())
    return right / len(f_test)


def linear_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                    y_test: np.ndarray, seed: int = 0, max_iter: int = 200) -> float:
    """Test accuracy of a linear classifier (multinomial logistic regression) on raw pixels,
    standardised per pixel: one weight per pixel and class, no features learned."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1e-3, max_iter=max_iter,
                                                             random_state=seed))
    clf.fit(_pixels(x_train), y_train)
    return float((clf.predict(_pixels(x_test)) == y_test).mean())
