"""CoSSMic-style neighbourhood: households with shiftable jobs buy local PV energy from neighbours before the grid.

Pure core (no HELICS): :mod:`.model` (profiles, jobs, contracts), :mod:`.profiles` (time-linear interpolation and
prediction updates), :mod:`.objective` (the producer's scheduling objective), :mod:`.optimisers` (scipy basin-hopping
and the exact MILP), :mod:`.negotiation` (manager, producer scores, producers), :mod:`.simulation` (one run),
:mod:`.metrics` and :mod:`.runs` (repeated seeded runs), :mod:`.feeder_link` (households on a GridLAB-D feeder:
job power for its houses, PV measured at its inverters). The HELICS adapter lives in :mod:`.adapter`.
"""
