"""Errors that the command line reports as one line instead of a traceback."""


class UserError(Exception):
    """Bad input from a user: a missing file, a wrong field, an impossible option.

    The message must name the file and the field (``case.yaml: feeder.houses: must be a positive integer``): the CLI
    prints it alone on stderr and exits with code 2, so it is all the user sees.
    """


class CosimError(Exception):
    """A co-simulation ended badly: a federate failed, timed out or was interrupted (CLI exit code 1)."""
