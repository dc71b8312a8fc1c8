"""Safe YAML loading, through libyaml's C parser when PyYAML was built with it.

The C parser reads the bundled category and standard files about ten times faster,
which a cold command-line run notices; both loaders build plain Python objects only.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

from circles._errors import CirclesError, ConfigError

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Byte-order marks say the encoding outright: such a file is decoded, not refused.
# UTF-32 first: its little-endian mark begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def safe_load(text: str) -> Any:
    """Parse YAML text into plain Python objects (no tags that construct objects).

    Parameters
    ----------
    text : str
        A YAML document.

    Returns
    -------
    Any
        Dicts, lists, strings, numbers, booleans and None.

    Raises
    ------
    yaml.YAMLError
        If the text is not valid YAML.
    """
    return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 (a safe loader)


def read_yaml_text(path: Path, error: type[CirclesError] = ConfigError) -> str:
    """The text of a YAML file: UTF-8, or any UTF with a byte-order mark.

    A file saved in a Chinese Windows encoding (GBK) or as UTF-16 without a mark is
    refused with one line that names the encoding and how to fix it, never decoded by
    guess: a wrong guess would put mojibake into titles and category names.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    error : type of CirclesError
        The error to raise (``ConfigError`` for a study, ``StandardError`` for a standard).

    Returns
    -------
    str
        The decoded text, without a byte-order mark.

    Raises
    ------
    CirclesError
        Of type ``error``: the file cannot be read, or is not UTF-8.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror or e}") from None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                break  # a mark followed by something else: described below
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if data.count(b"\x00") * 4 >= len(data):
            what, iconv, at = "UTF-16 without a byte-order mark", "UTF-16LE", ""
        else:
            what, iconv = _encoding_of(data)
            line = data[: e.start].count(b"\n") + 1
            at = f" line {line}"
        raise error(
            f"{path}{at}: the file is {what}, not UTF-8; save it as UTF-8 (in Notepad: Save "
            f"as, Encoding UTF-8; or iconv -f {iconv} -t UTF-8) and run again"
        ) from None


def _encoding_of(data: bytes) -> tuple[str, str]:
    """What a file that is neither UTF-8 nor UTF-16 most likely is: in words, and as
    iconv names it."""
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        return "in another encoding", "<its encoding>"
    return "GBK/GB18030 (a Chinese Windows encoding)", "GBK"
