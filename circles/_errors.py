"""Errors that reach the user as one clear line: what went wrong, where, and how to fix it."""

from __future__ import annotations


class CirclesError(Exception):
    """Base class for every error circles reports to a user.

    The CLI prints ``str(error)`` as a single line and exits non-zero, so messages must say
    what is wrong, where (file, field or row) and how to fix it.
    """


class ConfigError(CirclesError):
    """A study configuration is invalid."""


class InputError(CirclesError):
    """An input file is missing, unreadable or has the wrong shape."""


class NetworkUnavailableError(CirclesError):
    """Online data was requested but the Overpass service could not be reached."""


class EmptyNetworkError(CirclesError):
    """No walkable street network was found in the study area."""
