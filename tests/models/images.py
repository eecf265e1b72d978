"""Real test images and the preprocessing each model family expects.

Images come from Debian packages only (opencv-doc's sample data and scikit-image's bundled data), so the reference
data can be rebuilt offline. Resizing uses Pillow's bilinear filter; the models' own pipelines use OpenCV, so pixel
values differ slightly from theirs, which does not matter for reference data: what matters is that the inputs look
like the real thing (text, faces, objects) so activations stay in realistic ranges.
"""

import math
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def opencvSample(name: str) -> Path:
    """Path of an image from opencv-doc's examples/data, found through dpkg rather than a hard-coded path."""
    listing = subprocess.run(["dpkg", "-L", "opencv-doc"], check=True, capture_output=True, text=True).stdout
    for line in listing.splitlines():
        if line.endswith("/examples/data/" + name):
            return Path(line)
    raise FileNotFoundError(f"opencv-doc does not ship examples/data/{name} (is opencv-doc installed?)")


def loadRgb(path: Path) -> np.ndarray:
    """HWC uint8 RGB."""
    return np.asarray(Image.open(path).convert("RGB"))


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((width, height), Image.BILINEAR))


def toChw(img: np.ndarray, mean, std, scale: float = 1.0 / 255.0) -> np.ndarray:
    """HWC uint8 -> CHW float32: (img * scale - mean) / std per channel."""
    x = img.astype(np.float32) * np.float32(scale)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def imagenetChw(img: np.ndarray, size: int) -> np.ndarray:
    """torchvision-style input: resize to size x size, /255, ImageNet mean/std, RGB."""
    return toChw(resize(img, size, size), IMAGENET_MEAN, IMAGENET_STD)


# --- PaddleOCR ----------------------------------------------------------------------------------------------------

def ppocrDetInput(img: np.ndarray, longSide: int = 640) -> np.ndarray:
    """PaddleOCR DetResizeForTest (limit_type 'max') + NormalizeImage.

    The long side is scaled to longSide and both sides rounded to a multiple of 32. PaddleOCR reads images with
    OpenCV, so channels are BGR, and it applies the ImageNet mean/std in that channel order unchanged.
    """
    h, w = img.shape[:2]
    ratio = longSide / max(h, w)
    rh = max(int(round(h * ratio / 32) * 32), 32)
    rw = max(int(round(w * ratio / 32) * 32), 32)
    bgr = resize(img, rw, rh)[:, :, ::-1]
    return toChw(bgr, IMAGENET_MEAN, IMAGENET_STD)[None]


def ppocrLineInput(crop: np.ndarray, height: int, width: int) -> np.ndarray:
    """PaddleOCR resize_norm_img (rec and cls): keep aspect ratio at the given height, (x/255-0.5)/0.5, pad right
    with zeros to the given width. Channels BGR as in PaddleOCR."""
    h, w = crop.shape[:2]
    rw = min(width, int(math.ceil(height * w / h)))
    x = toChw(resize(crop, rw, height)[:, :, ::-1], 0.5, 0.5)
    out = np.zeros((3, height, width), np.float32)
    out[:, :, :rw] = x
    return out


def textLines(img: np.ndarray, darkThreshold: int = 128) -> list:
    """(top, bottom) row ranges of text lines in a dark-on-light document image, from the horizontal ink profile."""
    ink = (img.min(axis=2) < darkThreshold).sum(axis=1) > 0
    lines, start = [], None
    for y, on in enumerate(list(ink) + [False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            if y - start >= 6:
                lines.append((start, y))
            start = None
    return lines


def textCrop(img: np.ndarray, line: tuple, maxRatio: float, skipWords: int = 0, pad: int = 3) -> np.ndarray:
    """Crop of whole words from one text line, at most maxRatio wide (width/height), starting after skipWords words.

    Word gaps are runs of >= 4 ink-free columns; the crop ends at the last gap that keeps the ratio.
    """
    top, bottom = max(line[0] - pad, 0), min(line[1] + pad, img.shape[0])
    band = img[top:bottom]
    ink = (band.min(axis=2) < 128).sum(axis=0) > 0
    cols = np.flatnonzero(ink)
    # Word boundaries: (start, end) column ranges of ink separated by >= 4 blank columns.
    words, s, prev = [], cols[0], cols[0]
    for c in cols[1:]:
        if c - prev > 4:
            words.append((s, prev + 1))
            s = c
        prev = c
    words.append((s, prev + 1))
    words = words[skipWords:]
    x0 = max(words[0][0] - pad, 0)
    limit = x0 + maxRatio * (bottom - top)
    x1 = words[0][1]
    for ws, we in words:
        if we + pad > limit:
            break
        x1 = we
    return band[:, x0:min(x1 + pad, img.shape[1])]
