"""A stand-in embedding for testing and benchmarking the library's *mechanics*, not a model.

Until the trained image encoder exists, the case store, the index, the consensus and the search
service are exercised with real PTB-XL records embedded by this deterministic function: the
per-lead amplitude spectrum (1-Hz bands from 0.5 to 40 Hz, log-compressed) of the model's
canonical input, projected onto its first principal components and scaled to unit length.
The spectrum ignores where in the 10 s a beat falls, so records with similar rhythm and QRS
shape land near each other; it says nothing about clinical similarity and is never shipped.
"""

from __future__ import annotations

import hashlib

import numpy as np

NAME = "mechanics-spectrum-pca"
VERSION = "1"
_BANDS_HZ = np.arange(0.5, 40.5, 1.0)  # band edges: 0.5-1.5, ..., 39.5-40.5 Hz
_FS_HZ = 100.0


def spectrum_features(signals_mv: np.ndarray) -> np.ndarray:
    """(n, 12, 1000) canonical signals -> (n, 12 * 40) log band amplitudes."""
    x = np.asarray(signals_mv, dtype=np.float64)
    spec = np.abs(np.fft.rfft(x, axis=-1)) / x.shape[-1]
    freqs = np.fft.rfftfreq(x.shape[-1], d=1.0 / _FS_HZ)
    band = np.digitize(freqs, _BANDS_HZ) - 1
    n_bands = len(_BANDS_HZ) - 1
    feats = np.zeros((*x.shape[:2], n_bands))
    for b in range(n_bands):
        sel = band == b
        feats[..., b] = spec[..., sel].mean(axis=-1)
    return np.log1p(1000.0 * feats).reshape(x.shape[0], -1).astype(np.float32)


class SpectrumPCA:
    """Deterministic embedding fitted on a sample of real records.

    Parameters
    ----------
    fit_signals : (n, 12, 1000) canonical signals to fit the principal components on.
    dim : embedding size (at most the number of fitted records).

    Attributes
    ----------
    dim : embedding size.
    version : ``"mechanics-spectrum-pca-1:<sha256 of the fitted parameters, 16 hex>"``.
    """

    def __init__(self, fit_signals: np.ndarray, dim: int = 32) -> None:
        feats = spectrum_features(fit_signals).astype(np.float64)
        self.mean = feats.mean(axis=0)
        centred = feats - self.mean
        # SVD of the centred features; signs fixed (largest loading positive) for determinism.
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        comps = vt[:dim]
        signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
        self.components = (comps * signs[:, None]).astype(np.float32)
        self.mean = self.mean.astype(np.float32)
        self.dim = int(self.components.shape[0])
        digest = hashlib.sha256(self.mean.tobytes() + self.components.tobytes()).hexdigest()
        self.sha256 = digest
        self.version = f"{NAME}-{VERSION}:{digest[:16]}"

    def embed_signals(self, signals_mv: np.ndarray) -> np.ndarray:
        """(n, 12, 1000) canonical signals -> (n, dim) unit vectors (float32)."""
        z = (spectrum_features(signals_mv) - self.mean) @ self.components.T
        return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(
            np.float32)

    def embed_record(self, record) -> np.ndarray:
        """One :class:`~desktop_app.ecg.EcgRecord` -> (dim,) unit vector."""
        from desktop_app.signal import preprocess_for_model

        return self.embed_signals(preprocess_for_model(record)[None])[0]
