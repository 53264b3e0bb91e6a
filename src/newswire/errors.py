"""Errors that reach the user as one line and an exit code, never as a traceback."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75


class NewswireError(Exception):
    """An expected failure: the message is for the user, the code is the exit status."""

    exit_code = EXIT_FAILED


class ConfigError(NewswireError):
    """The configuration file is missing or wrong; the message names file, line and key."""

    exit_code = EXIT_USAGE


class UsageError(NewswireError):
    """The command line asked for something that cannot be done (unknown post id ...)."""

    exit_code = EXIT_USAGE


class StoreError(NewswireError):
    """The store cannot be opened, is busy beyond the timeout, or is damaged."""

    exit_code = EXIT_FAILED


class LockedError(NewswireError):
    """Another publish holds the journal's lock."""

    exit_code = EXIT_LOCKED
