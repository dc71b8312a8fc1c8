"""Contracts live in the code: every public function and class is documented numpy-style.

A public function (no leading underscore, in a public module or class) needs a docstring
with a ``Parameters`` section when it takes parameters and a ``Returns`` (or ``Yields``)
section when it returns something; a public class needs a docstring. Properties,
overloads and compiled kernels are exempt from the sections.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "circles"
EXEMPT_DECORATORS = {"property", "cached_property", "overload", "njit"}


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = set()
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, ast.Attribute):
            names.add(target.attr)
    return names


def _problems(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    doc = ast.get_docstring(node) or ""
    decorators = _decorators(node)
    if "overload" in decorators:
        return []
    if not doc:
        return ["no docstring"]
    if decorators & EXEMPT_DECORATORS:
        return []
    args = [a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]]
    args = [a for a in args if a not in ("self", "cls")]
    if node.args.vararg or node.args.kwarg:
        args.append("*")
    out = []
    if args and "Parameters" not in doc:
        out.append("no Parameters section")
    returns = node.returns
    gives = returns is not None and not (
        isinstance(returns, ast.Constant) and returns.value in (None, "None")
    )
    if gives and "Returns" not in doc and "Yields" not in doc:
        out.append("no Returns section")
    return out


def _public_definitions() -> list[tuple[str, ast.AST]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        if any(part.startswith("_") and part != "__init__.py" for part in rel.parts):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        stack: list[tuple[str, list[ast.stmt]]] = [(str(rel), tree.body)]
        while stack:
            where, body = stack.pop()
            for node in body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    if node.name.startswith("_"):
                        continue
                    found.append((f"{where}:{node.lineno} {node.name}", node))
                    if isinstance(node, ast.ClassDef):
                        stack.append((f"{where} {node.name}", node.body))
    return found


def test_every_public_function_and_class_has_its_contract():
    missing = []
    for where, node in _public_definitions():
        if isinstance(node, ast.ClassDef):
            if not ast.get_docstring(node):
                missing.append(f"{where}: no docstring")
        else:
            missing.extend(f"{where}: {p}" for p in _problems(node))  # type: ignore[arg-type]
    assert missing == [], "\n".join(missing)


def test_the_check_finds_a_missing_section():
    tree = ast.parse("def f(x: int) -> int:\n    '''Twice x.'''\n    return 2 * x\n")
    [node] = tree.body
    assert _problems(node) == ["no Parameters section", "no Returns section"]  # type: ignore[arg-type]
