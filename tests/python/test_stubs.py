"""python/kiln/_kiln.pyi describes the module as built: the same names at top level and in each class."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import kiln
from kiln import _kiln

STUB = Path(kiln.__file__).with_name("_kiln.pyi")


def _target(node) -> str:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return node.name
    return node.target.id if isinstance(node, ast.AnnAssign) else node.targets[0].id


def stub_classes() -> tuple[dict[str, set[str]], dict[str, list[str]], set[str]]:
    """(class -> names in its body, class -> base names, every top-level name)."""
    members, bases, top = {}, {}, set()
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AnnAssign)):
            top.add(_target(node))
        if isinstance(node, ast.ClassDef):
            members[node.name] = {_target(n) for n in node.body
                                  if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AnnAssign, ast.Assign))}
            bases[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
    return members, bases, {n for n in top if not n.startswith("_") or n in ("_import_array", "__version__")}


def module_public() -> set[str]:
    return {n for n in dir(_kiln) if not n.startswith("__") or n == "__version__"}


def test_stub_lists_every_module_name():
    assert stub_classes()[2] == module_public()


def test_stub_classes_list_their_members():
    members, bases, _ = stub_classes()

    def stub_members(name: str) -> set[str]:
        names = set(members.get(name, set()))
        for base in bases.get(name, []):
            names |= stub_members(base)
        return {n for n in names if not n.startswith("_") or n == "__len__"}

    for name in members:
        cls = getattr(_kiln, name)
        if not inspect.isclass(cls) or issubclass(cls, BaseException):
            continue
        declared = {n for n in vars(cls) if not n.startswith("_") or n == "__len__"}
        if hasattr(cls, "__members__"):  # enums: the stub lists the values, pybind11 adds name/value helpers
            declared = set(cls.__members__)
        assert declared <= stub_members(name), f"{name}: missing from the stub: {declared - stub_members(name)}"
        assert all(hasattr(cls, m) for m in stub_members(name)), f"{name}: stub names what the module lacks"


def test_package_reexports_the_module():
    assert set(kiln.__all__) - {"nptype"} | {"__version__"} == module_public() - {"_import_array"}
