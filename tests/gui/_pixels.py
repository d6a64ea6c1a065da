"""Pixel counting on grabbed widgets: is there grid, is there trace."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def image_rgb(image: QImage) -> np.ndarray:
    """An (h, w, 3) uint8 copy of a QImage."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()


def reddish_mask(rgb: np.ndarray) -> np.ndarray:
    """Pixels of the paper grid: clearly more red than green and blue, not dark."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (r > 180) & (r - g > 30) & (r - b > 30)


def dark_mask(rgb: np.ndarray) -> np.ndarray:
    """Pixels of trace ink (or label text): dark in every channel."""
    return rgb.max(axis=-1) < 90
