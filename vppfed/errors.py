"""Errors that the command line reports as one line instead of a traceback."""


class UserError(Exception):
    """Bad input from a user: a missing file, a wrong field, an impossible option.

    The message must name the file and the field (``case.yaml: feeder.houses: must be a positive integer``): the CLI
    prints it alone on stderr and exits with code 2, so it is all the user sees.
    """


class CosimError(Exception):
    """A co-simulation ended badly: a federate failed, timed out or was interrupted (CLI exit code 1)."""


class RunInterrupted(KeyboardInterrupt):
    """The command was asked to stop by a signal (SIGINT or SIGTERM); ``signal_name`` says which.

    A ``KeyboardInterrupt`` so that every ``finally`` and teardown written for Ctrl-C also runs for SIGTERM (a batch
    scheduler's or ``timeout``'s way of stopping a job), and the CLI reports both the same way.
    """

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        #: the run's summary when the launcher had one to give (it wrote summary.json before re-raising)
        self.summary: object | None = None

    @property
    def exit_code(self) -> int:
        """128 + the signal number, the shell's convention (130 for SIGINT, 143 for SIGTERM)."""
        return 143 if self.signal_name == "SIGTERM" else 130
