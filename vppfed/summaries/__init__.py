"""Run summaries: the lines ``vppfed run`` prints about a finished case (top layer).

One module per case section, each with ``summarize(run_dir) -> str | None`` (:class:`vppfed.plugins.SummaryPlugin`),
listed in :data:`vppfed.plugins.SUMMARIES`. They read the run's outputs through postprocess and the bottom layer, so
they live above both: a section module (configs) never imports postprocess.
"""
