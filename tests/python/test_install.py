"""The documented install: `cmake --install build --component python --prefix PREFIX`, then `import kiln` from a
fresh interpreter with PREFIX's site directory on PYTHONPATH (with --prefix ~/.local it is the user site)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

from conftest import env_path


def test_cmake_install_then_import_in_a_fresh_interpreter(tmp_path, classifier_onnx):
    build = env_path("KILN_BUILD_DIR")
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", str(build), "--component", "python", "--prefix", str(prefix)], check=True,
                   capture_output=True)
    site = prefix / sysconfig.get_path("platlib", "posix_prefix", vars={"platbase": "/", "base": "/"})[1:]
    installed = sorted(p.name for p in (site / "kiln").iterdir())
    assert "__init__.py" in installed and "export.py" in installed and "_kiln.pyi" in installed
    assert any(name.startswith("_kiln.") and name.endswith(".so") for name in installed)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    script = (
        "import sys, numpy as np, kiln\n"
        "b = kiln.Builder(); n = b.create_network(); kiln.OnnxParser(n).parse_from_file(sys.argv[1])\n"
        "c = b.create_builder_config(); p = b.create_optimization_profile()\n"
        "p.set_shape('input', (1, 3, 8, 8), (1, 3, 8, 8), (1, 3, 8, 8)); c.add_optimization_profile(p)\n"
        "e = kiln.Runtime().deserialize_cuda_engine(b.build_serialized_network(n, c))\n"
        "out = e.create_execution_context().infer({'input': np.ones((1, 3, 8, 8), np.float32)})\n"
        "print(kiln.__file__, kiln.__version__, out['logits'].shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(classifier_onnx)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=True)
    path, version, *shape = result.stdout.split()
    assert path == str(site / "kiln" / "__init__.py") and version and "".join(shape) == "(1,5)"
