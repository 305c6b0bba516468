"""Prints the directory `meson install` should put the shmstore package in, for the interpreter
that runs this script (python/meson.build runs it with -E, so PYTHONPATH does not count).

Usage: site_dir.py PREFIX MESON_CHOICE. Prints MESON_CHOICE when the interpreter imports from
it; else the first site directory on the interpreter's sys.path under PREFIX (Debian's python3
with prefix /usr/local: /usr/local/lib/python3.X/dist-packages, where meson would pick
/usr/local/lib/python3/dist-packages, a directory Debian's python3 never searches); else
MESON_CHOICE. A second line says whether the interpreter searches the printed directory: "yes"
or "no" (then the installed package needs PYTHONPATH).
"""
import os
import sys


def main():
    prefix, meson_choice = (os.path.normpath(p) for p in sys.argv[1:3])
    searched = [os.path.normpath(p) for p in sys.path if p]
    if meson_choice in searched:
        return meson_choice, True
    under_prefix = [p for p in searched
                    if p.startswith(prefix.rstrip(os.sep) + os.sep)
                    and os.path.basename(p) in ("site-packages", "dist-packages")]
    return (under_prefix[0], True) if under_prefix else (meson_choice, False)


chosen, searched_by_interpreter = main()
print(chosen)
print("yes" if searched_by_interpreter else "no")
