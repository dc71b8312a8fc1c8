"""Errors that reach the user as one clear line: what went wrong, where, and how to fix it."""

from __future__ import annotations

import os
import unicodedata


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


def one_line(error: BaseException | str, limit: int = 200) -> str:
    """An error's text on one line, shortened: for a message that quotes a library's error.

    Parameters
    ----------
    error : BaseException or str
        The error, or its text.
    limit : int
        At most this many characters (an ellipsis ends a longer text).

    Returns
    -------
    str
        The text with every run of whitespace (line breaks too) as one space.
    """
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Characters that would break a one-line message or a table row: controls (a line break,
# a tab, ESC) and Unicode's own line and paragraph separators.
_BREAKING = frozenset(("Cc", "Zl", "Zp"))


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path as one line of a message: bytes that are not UTF-8 as ``\\xff``, control
    characters escaped (``\\n``), Chinese and other text as it is.

    Parameters
    ----------
    path : str or os.PathLike
        The path, as the command line or a study gave it.

    Returns
    -------
    str
        Printable text, safe for any console and a one-line ``error:`` message.
    """
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in _BREAKING else c
        for c in text
    )


def path_problem(path: str | os.PathLike[str]) -> str | None:
    """Why circles refuses a path: one that is not UTF-8 or holds a control character
    cannot be named in a one-line message, a table or a report.

    Parameters
    ----------
    path : str or os.PathLike
        The path of an input or output.

    Returns
    -------
    str or None
        The problem and the fix in a few words, or None for a usable path.
    """
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "the path is not valid UTF-8 text; rename the file or folder"
    for c in text:
        if unicodedata.category(c) in _BREAKING:
            what = "a line break" if c in "\n\r\u2028\u2029" else "a control character"
            return f"the path holds {what} ({shown_path(c)}); rename the file or folder"
    return None
