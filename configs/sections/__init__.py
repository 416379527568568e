"""Section builders of the case YAML: one module per section (``SECTION``, ``ORDER``, ``build(ctx, raw)``), each listed
in :data:`vppfed.plugins.SECTIONS` (see :class:`vppfed.plugins.SectionPlugin`)."""
