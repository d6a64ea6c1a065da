"""Run the shipped encoders with onnxruntime: ECG -> embedding, text -> embedding. No torch.

Both encoders map into one space of L2-normalised float32 vectors, so a cosine is a dot product.
The image encoder reads which encoding it was trained on from its ONNX metadata and refuses to
run when that encoding (name, version, parameters, shape) is not exactly the app's: a model fed
another encoding returns confident nonsense, so this is checked once, at load time.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from desktop_app.ecg._record import EcgRecord
from desktop_app.encoding import ENCODINGS, Encoding
from desktop_app.errors import AssetError, EcgValueError
from desktop_app.signal._preprocess import preprocess_for_model

logger = logging.getLogger(__name__)

#: Threads per onnxruntime session: the clinic PCs and the CI machine have 2 cores; more
#: threads than cores make every call slower.
DEFAULT_THREADS = 2
# Records per onnxruntime call when embedding many: bounds memory (64 x 3x224x224 float32 is
# 38 MB) while keeping the per-call overhead small.
_BATCH = 64


def _batch_size(metadata: dict[str, str], requested: int) -> int:
    # Dynamic int8 models quantise activations with one scale per tensor, computed over the
    # whole batch: an embedding would depend on its batch companions (and on padding). One item
    # per call keeps an embedding a function of its input alone, the same in the case library
    # and for a query; on this CPU it costs little (PLATFORM.md section 4: 5-8 ms at batch 1
    # against 5.9 ms per image at batch 16).
    quant = metadata.get("quantization") or metadata.get("text.quantization") or "fp32"
    return 1 if quant != "fp32" else requested


def _session(path: Path, threads: int):
    import onnxruntime as ort

    if not path.is_file():
        raise AssetError(path, "the model file is missing")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped exceptions
        raise AssetError(path, f"onnxruntime cannot load it ({exc})") from exc


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def model_metadata(onnx_path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX model as a dict (reads the model with onnxruntime).

    Raises
    ------
    AssetError
        If the file is missing or not a model onnxruntime can load.
    """
    sess = _session(Path(onnx_path), 1)
    return dict(sess.get_modelmeta().custom_metadata_map)


class ImageEncoder:
    """The ECG encoder: canonical signals -> L2-normalised embeddings.

    Parameters
    ----------
    onnx_path : the image-encoder model; its metadata must name an encoding of
        :data:`desktop_app.encoding.ENCODINGS` with the same version and parameters.
    expected_encoding : if given, the model must also have been trained on this encoding.
    threads : onnxruntime intra-op threads.

    Attributes
    ----------
    encoding : the :class:`Encoding` the model was trained on (read from its metadata).
    dim : embedding size.
    metadata : the model's metadata strings.

    Raises
    ------
    AssetError
        If the file is missing or damaged, or its metadata names no encoding, an unknown one,
        another version or other parameters than the app's, or its input shape disagrees.
    """

    def __init__(self, onnx_path: str | Path, *, expected_encoding: str | None = None,
                 threads: int = DEFAULT_THREADS) -> None:
        self.path = Path(onnx_path)
        self._session = _session(self.path, threads)
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.encoding = self._check_encoding(expected_encoding)
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise AssetError(self.path, f"expected one input and an embedding output, found "
                                        f"{len(inputs)} inputs and {len(outputs)} outputs")
        self._input = inputs[0].name
        model_shape = tuple(inputs[0].shape[1:])
        if model_shape != tuple(self.encoding.output_shape):
            raise AssetError(self.path, f"the model takes inputs of shape {model_shape} but "
                                        f"encoding {self.encoding.name} makes "
                                        f"{self.encoding.output_shape}")
        dim = outputs[0].shape[-1]
        self.dim = int(dim) if isinstance(dim, int) else int(self.metadata["embedding.dim"])
        self._batch = _batch_size(self.metadata, _BATCH)

    def _check_encoding(self, expected: str | None) -> Encoding:
        name = self.metadata.get("encoding.name")
        if not name:
            raise AssetError(self.path, "its metadata names no encoding (encoding.name); it "
                                        "was not exported by model_export.export_onnx")
        if expected is not None and name != expected:
            raise AssetError(self.path, f"it was trained on encoding {name!r}, not on "
                                        f"{expected!r}")
        enc = ENCODINGS.get(name)
        if enc is None:
            raise AssetError(self.path, f"it was trained on encoding {name!r}, which this "
                                        f"version of the app does not have "
                                        f"(known: {', '.join(sorted(ENCODINGS))})")
        want = enc.metadata()
        if self.metadata.get("encoding.version") != want["encoding.version"]:
            raise AssetError(self.path, f"it was trained on version "
                                        f"{self.metadata.get('encoding.version')} of encoding "
                                        f"{name!r}; the app has version {enc.version}")
        try:
            params = json.loads(self.metadata.get("encoding.parameters", "null"))
        except ValueError:
            params = None
        if params != json.loads(want["encoding.parameters"]):
            raise AssetError(self.path, f"the parameters of encoding {name!r} in its metadata "
                                        f"differ from the app's")
        return enc

    def embed_signals(self, signals_mv: np.ndarray) -> np.ndarray:
        """Embed canonical signals.

        Parameters
        ----------
        signals_mv : array, shape (n, 12, 1000): 10 s at 100 Hz in mV, as
            :func:`desktop_app.signal.preprocess_for_model` returns.

        Returns
        -------
        np.ndarray
            float32, shape (n, dim), each row of unit length.

        Raises
        ------
        EcgValueError
            If the signals do not have shape (n, 12, 1000).
        """
        signals_mv = np.asarray(signals_mv)
        if signals_mv.ndim != 3:
            raise EcgValueError(f"expected signals of shape (n, 12, 1000); got "
                                f"{signals_mv.shape}")
        out = np.zeros((signals_mv.shape[0], self.dim), dtype=np.float32)
        for start in range(0, signals_mv.shape[0], self._batch):
            x = self.encoding.encode_batch(signals_mv[start:start + self._batch])
            out[start:start + len(x)] = self._session.run(None, {self._input: x})[0]
        return _normalise(out)

    def embed_images(self, images: np.ndarray) -> np.ndarray:
        """Embed already encoded inputs, shape (n, *encoding.output_shape), float32."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        if images.shape[1:] != tuple(self.encoding.output_shape):
            raise EcgValueError(f"expected encoded inputs of shape (n, "
                                f"{', '.join(map(str, self.encoding.output_shape))}); got "
                                f"{images.shape}")
        out = [self._session.run(None, {self._input: images[s:s + self._batch]})[0]
               for s in range(0, images.shape[0], self._batch)]
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.concatenate(out))

    def embed_record(self, record: EcgRecord) -> np.ndarray:
        """Embed one ECG (any rate and length of at least 5 s): float32, shape (dim,).

        Raises
        ------
        EcgValueError
            If the recording is shorter than 5 s.
        """
        return self.embed_signals(preprocess_for_model(record)[None])[0]


class TextEncoder:
    """Text -> L2-normalised embedding, tokenised with ``tokenizers`` (no transformers).

    Parameters
    ----------
    onnx_path : a text model with int64 inputs ``input_ids`` and ``attention_mask`` of shape
        (batch, tokens) and one float output (batch, dim).
    tokenizer_path : a ``tokenizer.json``; None takes the file that the model's metadata
        ``text.tokenizer`` names (default ``tokenizer.json``) beside the model.
    threads : onnxruntime intra-op threads.

    Raises
    ------
    AssetError
        If the model or the tokenizer is missing or damaged, or the model's inputs differ.
    """

    def __init__(self, onnx_path: str | Path, tokenizer_path: str | Path | None = None, *,
                 threads: int = DEFAULT_THREADS) -> None:
        from tokenizers import Tokenizer

        self.path = Path(onnx_path)
        self._session = _session(self.path, threads)
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        names = {i.name for i in self._session.get_inputs()}
        if names != {"input_ids", "attention_mask"}:
            raise AssetError(self.path, f"expected a text model with inputs input_ids and "
                                        f"attention_mask, found {sorted(names)}")
        if tokenizer_path is None:
            tokenizer_path = self.path.parent / self.metadata.get("text.tokenizer",
                                                                  "tokenizer.json")
        tokenizer_path = Path(tokenizer_path)
        if not tokenizer_path.is_file():
            raise AssetError(tokenizer_path, "the tokenizer file is missing")
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises a bare Exception on parse errors
            raise AssetError(tokenizer_path, f"the tokenizer cannot be read ({exc})") from exc
        self.max_tokens = int(self.metadata.get("text.max_tokens", 256))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.no_padding()
        self._pad_id = int(self.metadata.get("text.pad_id", 0))
        dim = self._session.get_outputs()[0].shape[-1]
        self.dim = int(dim) if isinstance(dim, int) else int(self.metadata["embedding.dim"])

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed texts.

        Parameters
        ----------
        texts : the texts (any language the model knows; the shipped one is English). Texts
            longer than ``max_tokens`` tokens are cut.
        batch_size : texts per onnxruntime call (1 for a dynamic int8 model, see
            ``_batch_size``).

        Returns
        -------
        np.ndarray
            float32, shape (len(texts), dim), each row of unit length.

        Raises
        ------
        EcgValueError
            If an item is not a string.
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise EcgValueError("embed_texts takes a list of strings")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        batch_size = _batch_size(self.metadata, batch_size)
        encodings = self._tokenizer.encode_batch(list(texts))
        # Similar lengths share a batch so that little padding is computed.
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.full((len(idx), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            out[idx] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return _normalise(out)
