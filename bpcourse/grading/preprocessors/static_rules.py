"""Teaching rules on the answer cells' source, read with ``ast``, never run.

``analyse(nb, graded)`` says which graded functions are not graded and why: an answer
cell that uses ``bpcourse`` (the course's reference may not stand in for an answer), a
graded function defined again outside its answer cell. It also notes monkeypatching and
dynamic tricks for the instructor's summary. These are messages for students; what the
graded kernel can reach is the sandbox's business.
"""

import ast

from .cells import meta

MODULE_NAMES = {"np", "numpy", "math", "builtins", "bpcourse", "bp", "grading", "os", "sys"}
SUSPICIOUS = {"__import__", "importlib", "exec", "eval", "compile", "globals", "setattr",
              "__builtins__", "builtins", "ctypes", "gc", "sys", "signal", "subprocess",
              "multiprocessing", "_exit", "fork", "kill"}


def _bound_names(node):
    """Names a statement-level tree binds: def, class, assignment, import, for, with."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in n.names}
    return names


def _top_defs(tree):
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def analyse(nb, graded):
    """Static rules on the student's cells: ({function: why it is not graded}, events)."""
    flags, events = {}, []
    trees = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        m = meta(cell)
        kind = ("answer" if m.get("solution") and not m.get("grade") else
                "manual" if m.get("solution") else
                "locked" if m.get("locked") or m.get("grade") else "student")
        src = "\n".join(line for line in cell.source.splitlines()
                        if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        trees.append((i, kind, tree))
    bp_modules, bp_names = set(), set()  # bound to bpcourse: module aliases, imported names
    modules = set(MODULE_NAMES)
    for _, kind, tree in trees:
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                for a in n.names:
                    modules.add((a.asname or a.name).split(".")[0])
                    if a.name.split(".")[0] == "bpcourse":
                        bp_modules.add((a.asname or a.name).split(".")[0])
            elif isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "bpcourse":
                names = {a.asname or a.name for a in n.names}
                if kind != "locked":
                    bp_names |= names
    owners = {}
    for i, kind, tree in trees:
        if kind in ("answer", "student"):
            for name in _bound_names(tree) & graded:
                owners.setdefault(name, []).append((i, kind, name in _top_defs(tree)))
        if kind not in ("answer", "student"):
            continue
        where = f"cell {i}" + (" (an answer cell)" if kind == "answer" else "")
        for n in ast.walk(tree):
            # Monkeypatching: assigning to an attribute of a module, or dynamic tricks.
            targets = n.targets if isinstance(n, ast.Assign) else (
                [n.target] if isinstance(n, (ast.AugAssign, ast.AnnAssign)) else [])
            for t in targets:
                root = t
                while isinstance(root, (ast.Attribute, ast.Subscript)):
                    root = root.value
                if isinstance(t, (ast.Attribute, ast.Subscript)) and isinstance(root, ast.Name) \
                        and root.id in modules | {"__builtins__"}:
                    events.append(f"tampering detected: {where} assigns to "
                                  f"{ast.unparse(t)[:60]} (monkeypatching)")
            name = n.id if isinstance(n, ast.Name) else (
                n.attr if isinstance(n, ast.Attribute) else None)
            if name in SUSPICIOUS:
                events.append(f"tampering detected: {where} uses {name}")
        if kind != "answer":
            continue
        defs = _bound_names(tree) & graded
        uses = []
        for n in ast.walk(tree):
            if isinstance(n, ast.Import) and any(a.name.split(".")[0] == "bpcourse"
                                                 for a in n.names):
                uses.append("imports bpcourse")
            elif isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "bpcourse":
                uses.append(f"imports from {n.module}")
            elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) \
                    and n.value.id in bp_modules:
                uses.append(f"uses {n.value.id}.{n.attr}")
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in bp_names:
                uses.append(f"uses {n.id} imported from bpcourse")
        if uses:
            for f in defs:
                flags[f] = (f"its answer cell {uses[0]}: the course's reference implementation "
                            "may not be used for a graded function (not graded)")
            events.append(f"reference use: answer cell {i} {uses[0]} "
                          f"({', '.join(sorted(defs)) or 'no graded function'} scores 0)")
    for name, where in owners.items():
        if len(where) > 1 or where[0][1] != "answer":
            flags[name] = ("it is defined again outside its answer cell (not graded: write "
                           "each graded function once, in its answer cell)")
            events.append(f"tampering detected: {name} is defined in cells "
                          f"{', '.join(str(i) for i, _, _ in where)} (scores 0)")
    return flags, list(dict.fromkeys(events))
