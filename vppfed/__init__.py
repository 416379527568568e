"""vppfed: HELICS co-simulation federates for virtual power plants.

The top-level package holds what every federate and command shares: the command line (:mod:`vppfed.cli`), the launcher
(:mod:`vppfed.launcher`) and the error type that turns bad user input into one clear line (:mod:`vppfed.errors`).
The federates, config generators, cases and post-processing live in ``vppfed.federates``, ``vppfed.configs``,
``vppfed.cases`` and ``vppfed.postprocess``.
"""
from __future__ import annotations

import os as _os

__version__ = "0.1.0"

# In the source tree the four subpackages are folders beside this one (setup.py maps them when installing). When
# Python imports this folder directly (``python -c ...`` or ``python -m vppfed.federates.x`` run from the repository
# root puts the root first on sys.path), let the same names resolve to those folders, so the source tree and an
# installed copy behave alike. An installed copy has no setup.py beside it and is left alone.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_root, "setup.py")) and _os.path.isfile(
        _os.path.join(_root, "federates", "__init__.py")):
    __path__.append(_root)  # type: ignore[name-defined]  # noqa: F821
