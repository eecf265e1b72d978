"""The documented install: `cmake --install build --component python --prefix ~/.local`, after which `import kiln`
works in a fresh interpreter (~/.local/lib/python3.X/site-packages is Python's user site). Any other prefix works
with its site directory on PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

import pytest
from conftest import env_path

# Builds and runs the classifier from the installed module; prints where kiln came from and the output shape.
SCRIPT = """\
import sys, numpy as np, kiln
b = kiln.Builder(); n = b.create_network(); kiln.OnnxParser(n).parse_from_file(sys.argv[1])
c = b.create_builder_config(); p = b.create_optimization_profile()
p.set_shape('input', (1, 3, 8, 8), (1, 3, 8, 8), (1, 3, 8, 8)); c.add_optimization_profile(p)
e = kiln.Runtime().deserialize_cuda_engine(b.build_serialized_network(n, c))
out = e.create_execution_context().infer({'input': np.ones((1, 3, 8, 8), np.float32)})
import kiln.export
print(kiln.__file__, kiln.__version__, out['logits'].shape)
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home directory with kiln installed into ~/.local by the documented command."""
    home = tmp_path_factory.mktemp("home")
    subprocess.run(["cmake", "--install", str(env_path("KILN_BUILD_DIR")), "--component", "python", "--prefix",
                    str(home / ".local")], check=True, capture_output=True)
    return home


def site_dir(prefix):
    scheme = sysconfig.get_path("platlib", "posix_prefix", vars={"platbase": "/P", "base": "/P"})
    return prefix / os.path.relpath(scheme, "/P")


def run_fresh(env_changes: dict, cwd, onnx) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONNOUSERSITE")}
    env.update(env_changes)
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(onnx)], cwd=cwd, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_installed_files(home):
    installed = sorted(p.name for p in (site_dir(home / ".local") / "kiln").iterdir())
    assert {"__init__.py", "export.py", "_kiln.pyi", "py.typed"} <= set(installed)
    assert any(name.startswith("_kiln.") and name.endswith(".so") for name in installed)


def test_import_from_user_site_without_pythonpath(home, classifier_onnx, tmp_path):
    path, version, *shape = run_fresh({"HOME": str(home)}, tmp_path, classifier_onnx)
    assert path == str(site_dir(home / ".local") / "kiln" / "__init__.py")
    assert version and "".join(shape) == "(1,5)"


def test_import_from_any_prefix_with_pythonpath(home, classifier_onnx, tmp_path):
    site = site_dir(home / ".local")
    path, _, *shape = run_fresh({"PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}, tmp_path, classifier_onnx)
    assert path == str(site / "kiln" / "__init__.py") and "".join(shape) == "(1,5)"
