"""The ``bpcourse`` a graded kernel sees: the tools its assignment hands out, nothing that grades.

While an assignment is graded, the sandbox mounts a *view* of the package at the
package's own path instead of the package: ``grading/kernel.py`` (the student's side of
the grading channel) and the tools ``contract.TOOLS`` lists for that assignment (ps2's
``relu``, ``sigmoid`` and ``tanh`` from problem set 1, ps4's ``MLP`` and ``load_mnist``),
with the package modules those need. Where a tool lives in a module that also holds a
graded function (``softmax`` next to ps2's activations, ``save_json`` next to ps4's
``load_json``), the view's module holds only the tool's definitions, copied from the
package's source, so no implementation of a graded function (in ``bpcourse`` or
``grading/reference.py``) is importable, or even readable, in the kernel.
"""

import ast
import hashlib
import os
import shutil
from pathlib import Path

from .contract import BEHAVIOURS, TOOLS

PACKAGE = Path(__file__).resolve().parents[1]
# The grader's own modules: never in a view, whatever an assignment lists.
NEVER = {"grading", "experiments", "speedrun", "__main__"}


class ViewError(ValueError):
    """An assignment's tools cannot be shown without a graded function."""


def _source(module):
    return (PACKAGE / f"{module.replace('.', '/')}.py").read_text()


def _relative_imports(tree):
    """What a module takes from the package: {module: the names, or None for all of it}."""
    out = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.level == 1:
            if n.module:
                dep = n.module.split(".")[0]
                if out.get(dep, set()) is not None:
                    out[dep] = out.get(dep, set()) | {a.name for a in n.names}
            else:
                out.update({a.name: None for a in n.names})
    return out


def _top_names(stmt):
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    targets = stmt.targets if isinstance(stmt, ast.Assign) else (
        [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) else [])
    return {t.id for t in targets if isinstance(t, ast.Name)}


def subset(source, names):
    """``source`` reduced to its imports, its docstring and the definitions ``names`` need."""
    tree = ast.parse(source)
    defined = {}
    for stmt in tree.body:
        for name in _top_names(stmt):
            defined[name] = stmt
    missing = set(names) - set(defined)
    if missing:
        raise ViewError(f"no top-level definition of {sorted(missing)}")
    keep, todo = set(), list(names)
    while todo:  # the definitions the wanted ones use, and theirs, ...
        stmt = defined[todo.pop()]
        if id(stmt) in keep:
            continue
        keep.add(id(stmt))
        used = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        todo += [u for u in used if u in defined and id(defined[u]) not in keep]
    lines = source.splitlines()
    out, last = [], None
    for i, stmt in enumerate(tree.body):
        doc = i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        imp = isinstance(stmt, (ast.Import, ast.ImportFrom))
        if doc or imp or id(stmt) in keep:
            first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            out.append(("\n" if imp and last == "import" else "\n\n\n" if out else "")
                       + "\n".join(lines[first - 1:stmt.end_lineno]))
            last = "import" if imp else "def"
    return "".join(out) + "\n"


def files(assignment):
    """{path inside the package: source} of the view for ``assignment``.

    Each module holds only the definitions the tools need (all of it where another module
    of the view imports it whole), found by following the package's relative imports.
    """
    # module -> the names it hands out, or None for all of it; an assignment the table does
    # not know gets no tools at all (the strictest view), never the whole package.
    tools = TOOLS.get(assignment, {})
    need = {m: (None if names is None else set(names)) for m, names in tools.items()}
    while True:
        out = {}
        for module, names in need.items():
            if module in NEVER:
                raise ViewError(f"{module} is the grader's, never a tool")
            src = _source(module)
            out[f"{module}.py"] = src if names is None else subset(src, sorted(names))
        grown = dict(need)
        for src in out.values():
            for dep, names in _relative_imports(ast.parse(src)).items():
                old = grown.get(dep, set())
                grown[dep] = None if names is None or old is None else old | names
        if grown == need:
            break
        need = grown
    lines = ['"""bpcourse as a graded kernel sees it: the tools of this problem set."""', ""]
    for module in sorted(tools):
        lines.append(f"from . import {module}")
        if tools[module]:
            lines.append(f"from .{module} import {', '.join(tools[module])}")
    out["__init__.py"] = "\n".join(lines) + "\n"
    out["grading/__init__.py"] = ('"""The grading channel, the student\'s side."""\n\n'
                                  "from .kernel import CheckFailed, diagnose, explain, record\n")
    out["grading/kernel.py"] = (PACKAGE / "grading" / "kernel.py").read_text()
    _refuse_graded(assignment, out)
    return out


def _refuse_graded(assignment, out):
    """No module of the view defines a function the assignment grades."""
    graded = {b.function for b in BEHAVIOURS.values() if b.assignment == assignment}
    for path, src in out.items():
        for n in ast.walk(ast.parse(src)):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in graded:
                raise ViewError(f"{path} defines {n.name}, which {assignment} grades")


def build(assignment, root):
    """Write the view of ``assignment`` under ``root``; the folder to mount as the package.

    Views are named by their content: a folder built before (by any grading process)
    is reused, and a change to the package's tools makes a new one.
    """
    out = files(assignment)
    digest = hashlib.sha256(repr(sorted(out.items())).encode()).hexdigest()[:12]
    folder = Path(root) / f"bpcourse-{assignment}-{digest}"
    if not folder.is_dir():
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        for path, src in out.items():
            (tmp / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp / path).write_text(src)
        for p in [tmp, *tmp.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)  # read by the slot's grading user
        try:
            tmp.rename(folder)
        except OSError:  # another grading process built the same view meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
