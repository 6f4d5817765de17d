"""The one exception type the command line turns into a one-line message."""


class DmsdError(Exception):
    """A problem the user can fix: bad input, bad configuration, a missing model.

    Its message is printed as one line, without a traceback.
    """
