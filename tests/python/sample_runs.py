"""Running the samples in either language, and reading what they print: shared by test_samples.py (synthetic models)
and test_samples_models.py (the real models)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES, SKIMAGE_DATA, env_path, subprocess_env

PHOTOS = [SKIMAGE_DATA / name for name in ("astronaut.png", "chelsea.png", "coffee.png")]
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
LANGUAGES = ["python", "cpp"]


def run(language: str, sample: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    """One sample run: `language` "python" (examples/python/<sample>.py) or "cpp" (build/kiln-<sample>)."""
    if language == "python":
        command = [sys.executable, str(EXAMPLES / f"{sample}.py")]
    else:
        command = [str(env_path("KILN_BUILD_DIR") / f"kiln-{sample}")]
    result = subprocess.run([*command, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600,
                            env=subprocess_env())
    print(" ".join(map(str, [*command, *args])), result.stdout, result.stderr, sep="\n")
    return result


def error_line(language: str, sample: str, *args, cwd: Path) -> str:
    """A run that must fail: exit code 1 and one line "<sample>: error: ..." on stderr, which is returned."""
    result = run(language, sample, *args, cwd=cwd)
    assert result.returncode == 1 and result.stderr.startswith(f"{sample}: error: ")
    assert len(result.stderr.splitlines()) == 1
    return result.stderr


def opencv_photo(name: str, folder: Path) -> Path:
    """A photo of opencv-doc's examples/data, decompressed into `folder` when Debian ships it gzipped."""
    path = OPENCV_DATA / name
    if path.is_file():
        return path
    if not path.with_suffix(path.suffix + ".gz").is_file():
        pytest.skip(f"opencv-doc's {name} is not installed")
    with gzip.open(path.with_suffix(path.suffix + ".gz")) as src, open(folder / name, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return folder / name


def top5_blocks(stdout: str) -> dict[str, list[tuple[str, int, str]]]:
    """{photo path: [(probability, class index, label) x 5]} from the lines a classify sample prints."""
    blocks, current = {}, None
    for line in stdout.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            current = blocks.setdefault(line[:-1], [])
        elif current is not None and line.startswith("  "):
            _, prob, index, label = line.split(maxsplit=3)
            current.append((prob, int(index), label))
    return blocks


def same_npy(folder_a: Path, folder_b: Path) -> list[str]:
    """The .npy files of two --save-outputs folders: the same names, each pair equal byte for byte in its data."""
    names = sorted(p.name for p in folder_a.glob("*.npy"))
    assert names and names == sorted(p.name for p in folder_b.glob("*.npy"))
    for name in names:
        a, b = np.load(folder_a / name), np.load(folder_b / name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
    return names
