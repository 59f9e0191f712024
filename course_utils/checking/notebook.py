"""Where the checks run: the notebook's namespace, and whether a Jupyter kernel shows our output.

``q1.check()`` takes no arguments: it reads the student's variables from the namespace of the
notebook that called it (IPython's ``user_ns``), or ``__main__``'s in a plain Python.
"""
from __future__ import annotations

import sys


def user_namespace() -> dict:
    """The notebook's global namespace (IPython's user_ns), or ``__main__``'s outside IPython."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is not None:
        return shell.user_ns
    import __main__

    return vars(__main__)


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where display() reaches a notebook), not merely if IPython is importable."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and hasattr(shell, "kernel")
