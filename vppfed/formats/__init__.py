"""File and value formats shared by the layers (bottom layer: imports only :mod:`vppfed.errors` and :mod:`vppfed.io`).

Federates and configs write these files and postprocess reads them; keeping the readers here lets postprocess read a
run's outputs without importing a federate core or a configs module (``tests/test_layers.py`` checks the direction of
every import):

- :mod:`.metrics`: TESP-layout metrics files (name, crash-tolerant :func:`~.metrics.recover`, :class:`~.metrics.Metrics`
  reader);
- :mod:`.agile`: the agile VPP's signal, params and output CSVs;
- :mod:`.battery`: the battery case's reference loads CSV;
- :mod:`.ppcase`: TESP-style ``<case>_pp.json`` bulk-grid cases and their background-load CSV (one reader for
  ours and TESP's);
- :mod:`.neighbourhood`: the neighbourhood run record (``neighbourhood_run.json``);
- :mod:`.weather`: TESP ``weather.dat``;
- :mod:`.gridlabd`: GridLAB-D time zones; :mod:`.gld_strings`: GridLAB-D/HELICS value text (``parse_complex``).
"""
