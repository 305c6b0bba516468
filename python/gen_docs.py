"""Renders the Python API reference, docs/python.md, from the shmstore package's docstrings.

It imports the built package (put the build's python/ directory on PYTHONPATH), walks
shmstore.__all__ in the groups below, and writes each function's signature and each class's
methods with their docstrings, in Markdown. Docstrings are written to read well both in help()
and here: an indented block becomes a code block, a line underlined with dashes a heading, the
rest passes through. Every name of __all__ must be in a group (or explained by the package
docstring), so a new API cannot go undocumented.

    PYTHONPATH=BUILD/python python3 python/gen_docs.py --output docs/python.md
    PYTHONPATH=BUILD/python python3 python/gen_docs.py --check docs/python.md
"""

import argparse
import inspect
import os
import sys

# Run as a script, Python puts this directory first on sys.path, where the source shmstore/
# (without its compiled extension) would shadow the built package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import shmstore  # noqa: E402

REGENERATE = "PYTHONPATH=BUILD/python python3 python/gen_docs.py --output docs/python.md"

GROUPS = [
    ("Starting and reaching a store", ["serve", "Store", "connect", "find_shmstored"]),
    ("Using a store", ["Client", "Event", "Namespace", "escape_pattern"]),
    ("Errors", ["Error", "NotFound", "Exists", "StoreFull", "Timeout", "PermissionDenied",
                "ConnectionLost", "NotRunning", "InvalidArgument", "StartFailed"]),
]
# Described in the package docstring's "Constants" section.
CONSTANTS = ["WAIT_FOREVER", "NAME_MAX", "META_MAX", "MAGIC", "library_version"]


def markdown(doc, heading_level):
    """A docstring as Markdown: indented blocks fenced as code, dash-underlined lines as
    headings of heading_level."""
    lines = inspect.cleandoc(doc or "").splitlines()
    out, code = [], []

    def flush_code():
        if code:
            while code and not code[-1].strip():
                code.pop()
            out.append("```python")
            out.extend(line[4:] if line.startswith("    ") else line for line in code)
            out.extend(["```", ""])
            code.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        underlined = (i + 1 < len(lines) and lines[i + 1].strip()
                      and set(lines[i + 1].strip()) == {"-"} and line.strip())
        if line.startswith("    ") and (code or not out or not out[-1].strip()):
            code.append(line)
        elif code and not line.strip():
            code.append(line)
        else:
            flush_code()
            if underlined:
                out.extend(["%s %s" % ("#" * heading_level, line.strip()), ""])
                i += 1
            else:
                out.append(line)
        i += 1
    flush_code()
    text = "\n".join(out).strip() + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def signature(obj):
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def public_members(cls):
    """(name, member) of the methods and properties a class defines, in definition order;
    __contains__ shows as the `in` operator."""
    for name, member in vars(cls).items():
        if name.startswith("_") and name != "__contains__":
            continue
        if isinstance(member, property) or inspect.isfunction(member):
            yield name, member


def render_class(name, cls):
    parts = []
    if issubclass(cls, BaseException):
        bases = ", ".join(b.__name__ if b.__module__ in ("builtins", "shmstore")
                          else b.__qualname__ for b in cls.__bases__)
        parts.append("### exception shmstore.%s(%s)\n" % (name, bases))
        parts.append(markdown(cls.__doc__, 4))
        return parts
    init = vars(cls).get("__init__")
    parts.append("### class shmstore.%s%s\n" % (name, signature(init).replace("(self, ", "(")
                                                 .replace("(self)", "()") if init else ""))
    parts.append(markdown(cls.__doc__, 4))
    if init is not None and init.__doc__:
        parts.append(markdown(init.__doc__, 4))
    for member_name, member in public_members(cls):
        if isinstance(member, property):
            parts.append("#### %s.%s\n" % (name, member_name))
            parts.append(markdown(member.__doc__, 5))
        elif member_name == "__contains__":
            parts.append("#### name in %s\n" % name.lower())
            parts.append(markdown(member.__doc__, 5))
        else:
            sig = signature(member).replace("(self, ", "(").replace("(self)", "()")
            parts.append("#### %s.%s%s\n" % (name, member_name, sig))
            parts.append(markdown(member.__doc__, 5))
    return parts


def render():
    grouped = [n for _, names in GROUPS for n in names] + CONSTANTS
    missing = sorted(set(shmstore.__all__) - set(grouped))
    if missing:
        raise SystemExit("gen_docs.py: not in any group: %s" % ", ".join(missing))
    parts = ["# shmstore Python API\n",
             "<!-- Generated from the package's docstrings by python/gen_docs.py; do not edit. "
             "Regenerate: %s -->\n" % REGENERATE,
             markdown(shmstore.__doc__, 2)]
    for title, names in GROUPS:
        parts.append("## %s\n" % title)
        for name in names:
            obj = getattr(shmstore, name)
            for undocumented in ([obj] + [m for _, m in public_members(obj)]
                                 if inspect.isclass(obj) else [obj]):
                if not (undocumented.__doc__ or "").strip():
                    raise SystemExit("gen_docs.py: %s has no docstring" % name)
            if inspect.isclass(obj):
                parts.extend(render_class(name, obj))
            else:
                parts.append("### shmstore.%s%s\n" % (name, signature(obj)))
                parts.append(markdown(obj.__doc__, 4))
    return "\n".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--output", metavar="FILE", help="write the reference to FILE")
    action.add_argument("--check", metavar="FILE",
                        help="exit 1 if FILE differs from what would be written")
    args = parser.parse_args()
    text = render()
    if args.check:
        with open(args.check, encoding="utf-8") as f:
            if f.read() != text:
                print("%s is out of date with the docstrings; regenerate it from the source "
                      "tree with:\n    %s" % (args.check, REGENERATE), file=sys.stderr)
                return 1
        return 0
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
