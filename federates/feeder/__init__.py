"""GridLAB-D feeder federate: a pure core (session, strings, clock, metrics, core) and a thin HELICS adapter.

Modules: :mod:`.session` (the GridLAB-D worker and its traps), :mod:`.clock` (HELICS seconds <-> local time),
:mod:`vppfed.formats.gld_strings` (value parsing), :mod:`.gld_metrics` (TESP metrics aggregation), :mod:`.core` (config binding and
stepping), :mod:`.discover` (inventory), :mod:`.adapter` (HELICS; the only module importing helics), ``__main__``.
"""
