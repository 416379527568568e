"""Subcommands of ``vppfed``: each module here defines ``register(subparsers)`` and is discovered by :mod:`vppfed.cli`."""
