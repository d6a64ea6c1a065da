"""ECG -> image encodings that the image encoder (a ViT) sees. Qt-free, numpy/scipy only.

Every encoding takes the model's canonical signal, a (12, 1000) array: 10 s at 100 Hz, in mV,
rows in ``LEADS_12`` order, already band-passed by ``desktop_app.signal.preprocess_for_model``.
The app and the training pipeline call the same :class:`Encoding`, looked up by name; its name,
version and parameters go into the ONNX model's metadata so that a model is never fed an encoding
it was not trained on.

Encodings
---------
``paper_gaf_rp_mtf``
    Qiu et al.'s baseline: one beat per lead as (GASF, RP, MTF) in a 3 x 4 lead grid, resized to
    (3, 224, 224), values in [0, 1]. See :mod:`desktop_app.encoding._paper` for what it discards.
``signal_mv``
    Ours: the whole record as (3, 12, 1000) = (amplitude in mV, slope in mV per 20 ms, spatial
    velocity rhythm channel), fixed units, no per-record normalisation.
    See :mod:`desktop_app.encoding._signal_image`.

Runtime
-------
:class:`ImageEncoder` and :class:`TextEncoder` run the exported ONNX models with onnxruntime
(no torch); the image encoder takes its :class:`Encoding` from the model's metadata.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from desktop_app.encoding import _paper, _signal_image
from desktop_app.errors import EcgValueError

logger = logging.getLogger(__name__)

#: Shape of the canonical model input every encoding takes: 12 leads x 10 s at 100 Hz.
INPUT_SHAPE: tuple[int, int] = (12, 1000)
INPUT_FS_HZ: float = 100.0


def _check_batch(signals_mv: Any) -> np.ndarray:
    arr = np.asarray(signals_mv)
    if arr.ndim != 3 or arr.shape[1:] != INPUT_SHAPE:
        raise EcgValueError(
            f"encodings take signals of shape (n, 12, 1000) (10 s at 100 Hz, LEADS_12 order); "
            f"got {arr.shape}; resample with desktop_app.signal.preprocess_for_model first")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise EcgValueError(f"encodings take real numbers in mV; got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        # A missing lead (NaN) enters the model as a flat line, which is what it shows on paper.
        logger.debug("non-finite samples in the model input set to 0 mV")
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    return arr


@dataclass(frozen=True)
class Encoding:
    """One ECG -> image encoding.

    Attributes
    ----------
    name : registry key, also written into the ONNX metadata.
    version : bumped whenever the output for the same input changes; a model trained on another
        version must not be used.
    description : one line for logs and the model card.
    parameters : every constant that shapes the output (JSON-serialisable, read-only).
    output_shape : (channels, height, width) of one encoded record.
    dtype : numpy dtype name of the output (always ``"float32"``).
    """

    name: str
    version: int
    description: str
    parameters: Mapping[str, Any]
    output_shape: tuple[int, int, int]
    _encode_batch: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    dtype: str = "float32"

    def encode(self, signal_mv: np.ndarray) -> np.ndarray:
        """Encode one record.

        Parameters
        ----------
        signal_mv : array, shape (12, 1000): 10 s at 100 Hz in mV, ``LEADS_12`` order. NaN
            (a missing lead) is encoded as 0 mV.

        Returns
        -------
        float32 array of shape ``output_shape``.

        Raises
        ------
        EcgValueError
            If the shape is not (12, 1000) or the values are not real numbers.
        """
        arr = np.asarray(signal_mv)
        if arr.shape != INPUT_SHAPE:
            raise EcgValueError(
                f"encodings take one signal of shape (12, 1000) (10 s at 100 Hz); got {arr.shape}")
        return self.encode_batch(arr[None])[0]

    def encode_batch(self, signals_mv: np.ndarray) -> np.ndarray:
        """Encode several records.

        Parameters
        ----------
        signals_mv : array, shape (n, 12, 1000), mV at 100 Hz; n may be 0.

        Returns
        -------
        float32 array, shape ``(n, *output_shape)``.

        Raises
        ------
        EcgValueError
            If the shape is not (n, 12, 1000) or the values are not real numbers.
        """
        arr = _check_batch(signals_mv)
        if arr.shape[0] == 0:
            return np.zeros((0, *self.output_shape), dtype=np.float32)
        return self._encode_batch(arr)

    def metadata(self) -> dict[str, str]:
        """Key/value strings for ONNX ``metadata_props`` (``encoding.name``, ``.version``, ...)."""
        return {
            "encoding.name": self.name,
            "encoding.version": str(self.version),
            "encoding.output_shape": json.dumps(list(self.output_shape)),
            "encoding.dtype": self.dtype,
            "encoding.parameters": json.dumps(dict(self.parameters), sort_keys=True),
        }


def _paper_batch(signals_mv: np.ndarray) -> np.ndarray:
    # One R-peak search per record: no useful vectorisation across records.
    return np.stack([_paper.encode_paper(sig) for sig in signals_mv])


_INPUT_PARAMETERS = {"input_shape": list(INPUT_SHAPE), "input_fs_hz": INPUT_FS_HZ,
                     "input_units": "mV", "input_lead_order": "LEADS_12"}

PAPER_GAF_RP_MTF = Encoding(
    name="paper_gaf_rp_mtf",
    version=1,
    description="Qiu et al. 2023: one beat per lead as (GASF, RP, MTF), 3x4 lead grid, 224x224",
    parameters=MappingProxyType({
        **_INPUT_PARAMETERS,
        "source": "Qiu et al. ML4H 2023; github.com/Jielin-Qiu/ECG_image_encoding@7b5b72d",
        "highpass_hz": _paper.HIGHPASS_HZ,
        "lowpass_hz": _paper.LOWPASS_HZ,
        "filter": "butterworth order 2, sosfiltfilt, even padding 200",
        "r_peak_lead": "II",
        "beat_choice": "usable R peak nearest sample 500",
        "window_samples": _paper.WINDOW_SAMPLES,
        "r_offset_samples": _paper.R_OFFSET_SAMPLES,
        "lead_scaling": "x / (max|x| + 1e-8) per lead",
        "channels": ["gasf", "rp", "mtf"],
        "channel_ranges": "gasf (g+1)/2, rp min(|xi-xj|, 1), mtf in [0, 1]",
        "mtf_bins": _paper.MTF_BINS,
        "mtf_strategy": "quantile",
        "grid": "3 rows x 4 columns; lead j at column j//3, row j%3; 300x400",
        "resize": "bilinear, cv2 INTER_LINEAR convention, to 224x224",
    }),
    output_shape=(3, _paper.OUTPUT_SIZE, _paper.OUTPUT_SIZE),
    _encode_batch=_paper_batch,
)

SIGNAL_MV = Encoding(
    name="signal_mv",
    version=1,
    description="whole 10-s 12-lead signal as (amplitude mV, slope mV/20ms, spatial velocity)",
    parameters=MappingProxyType({
        **_INPUT_PARAMETERS,
        "channels": ["amplitude_mv", "slope_mv_per_20ms", "spatial_velocity"],
        "amplitude_scale_per_mv": _signal_image.AMPLITUDE_SCALE_PER_MV,
        "amplitude_clip_mv": _signal_image.AMPLITUDE_CLIP_MV,
        "slope_interval_s": _signal_image.SLOPE_INTERVAL_S,
        "slope_clip": _signal_image.SLOPE_CLIP,
        "rhythm_leads": ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"],
        "rhythm_sigma_s": _signal_image.RHYTHM_SIGMA_S,
        "rhythm_clip": _signal_image.RHYTHM_CLIP,
        "layout": "rows = leads in LEADS_12 order, columns = samples",
    }),
    output_shape=(3, *INPUT_SHAPE),
    _encode_batch=_signal_image.encode_signal_batch,
)

#: Every encoding, by name.
ENCODINGS: Mapping[str, Encoding] = MappingProxyType({
    enc.name: enc for enc in (PAPER_GAF_RP_MTF, SIGNAL_MV)
})


def get_encoding(name: str) -> Encoding:
    """Look an encoding up by name.

    Parameters
    ----------
    name : a key of :data:`ENCODINGS`.

    Returns
    -------
    The :class:`Encoding`.

    Raises
    ------
    EcgValueError
        If no encoding has that name (the message lists the known ones).
    """
    try:
        return ENCODINGS[name]
    except KeyError:
        raise EcgValueError(
            f"unknown encoding {name!r}; known: {', '.join(sorted(ENCODINGS))}") from None


# Imported last: the runtime looks encodings up in ENCODINGS.
from desktop_app.encoding._runtime import ImageEncoder, TextEncoder, model_metadata  # noqa: E402

__all__ = [
    "ENCODINGS",
    "ImageEncoder",
    "TextEncoder",
    "model_metadata",
    "INPUT_FS_HZ",
    "INPUT_SHAPE",
    "PAPER_GAF_RP_MTF",
    "SIGNAL_MV",
    "Encoding",
    "get_encoding",
]
