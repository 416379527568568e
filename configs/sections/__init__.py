"""Section builders of the case YAML: one module per section (``SECTION``, ``ORDER``, ``build(ctx, raw)``)."""
