"""Bulk transmission grid federate (TESP's ``pypower``): a pure core (:mod:`.core`, :mod:`.powerflow`,
:mod:`.dcopf`, :mod:`.ppcase`; no HELICS) and a thin HELICS adapter (:mod:`.adapter`, run with
``python -m vppfed.federates.bulk``)."""
from .core import BulkGrid, BulkOptions, ResponsiveCurve
from vppfed.formats.ppcase import BulkCase, load_pp_case

__all__ = ["BulkGrid", "BulkOptions", "ResponsiveCurve", "BulkCase", "load_pp_case"]
