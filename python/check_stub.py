# SPDX-License-Identifier: GPL-2.0
"""Check atomik_core's type stub and docstrings against the module itself.

Usage: python3 python/check_stub.py STUB.pyi  (atomik_core importable)

Every public name of the module and of DeltaStream is in the stub with the
same kind (method or property) and, for methods, the same parameters; the
stub has nothing the module lacks; every public method and property of the
module has a docstring.  Prints what differs; exits 1 if anything does.
"""
import ast
import inspect
import sys

import atomik_core

DUNDERS = {"__enter__", "__exit__"}


def public(name):
    return not name.startswith("_") or name in DUNDERS


def stub_members(path):
    tree = ast.parse(open(path).read(), path)
    module, cls = {}, {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "DeltaStream":
            for f in node.body:
                if isinstance(f, ast.FunctionDef) and (public(f.name) or f.name == "__new__"):
                    prop = any(isinstance(d, ast.Name) and d.id == "property"
                               for d in f.decorator_list)
                    args = [a.arg for a in f.args.args[1:]]
                    kwonly = [a.arg for a in f.args.kwonlyargs]
                    cls[f.name] = ("property", None) if prop else ("method", (args, kwonly))
            module["DeltaStream"] = "class"
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            module[node.target.id] = "value"
    return module, cls


def main():
    errors = []
    module, cls = stub_members(sys.argv[1])
    real = {n for n in dir(atomik_core) if not n.startswith("_") or n == "__version__"}
    for n in sorted(real ^ set(module)):
        errors.append("module name %s: %s" % (n, "not in the stub" if n in real else
                                              "in the stub only"))
    T = atomik_core.DeltaStream
    names = {n for n in dir(T) if public(n) and n not in dir(object)} | DUNDERS
    for n in sorted(names ^ (set(cls) - {"__new__"})):
        errors.append("DeltaStream.%s: %s" % (n, "not in the stub" if n in names else
                                               "in the stub only"))
    for n in sorted(names & set(cls)):
        obj = getattr(T, n)
        kind = "property" if inspect.isdatadescriptor(obj) else "method"
        if kind != cls[n][0]:
            errors.append("DeltaStream.%s: a %s, the stub says a %s" % (n, kind, cls[n][0]))
        if n not in DUNDERS and not (obj.__doc__ or "").strip():
            errors.append("DeltaStream.%s: no docstring" % n)
        if kind == "method" and n not in DUNDERS:
            sig = inspect.signature(obj)
            args = [p.name for p in sig.parameters.values()][1:]
            if args != cls[n][1][0]:
                errors.append("DeltaStream.%s%s, the stub says (%s)" %
                              (n, sig, ", ".join(cls[n][1][0])))
    # The constructor: its docstring's signature line against the stub's.
    sig = T.__text_signature__
    want = "(table=None, *, size=4096, device=None)"
    if sig != want or cls["__new__"][1] != (["table"], ["size", "device"]):
        errors.append("DeltaStream%s, the stub says (%s, *, %s)" %
                      (sig, ", ".join(cls["__new__"][1][0]), ", ".join(cls["__new__"][1][1])))
    for n in ("__doc__",):
        if not (getattr(atomik_core, n) or "").strip() or not (T.__doc__ or "").strip():
            errors.append("no module or class docstring")
    for e in errors:
        print(e)
    print("%s: %d names checked, %d problems" % (sys.argv[1].rsplit("/", 1)[-1],
                                                len(names) + len(real), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
