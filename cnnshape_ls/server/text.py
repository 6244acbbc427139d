"""A client's buffer as the parser takes it, every code point kept in its place.

The command line decodes files as Python does, so a leading byte-order mark never reaches the parser;
a client may keep it in the buffer, and Python's parser rejects it in a ``str``. A client may also send a
lone surrogate (invalid UTF-16, say half an emoji pasted into a comment), which the parser cannot encode:
the whole file would lose its hints. Both are replaced one code point for one, so every line and column
the analysis reports is still right in the client's buffer (the snapshot keeps the client's own text).
"""

from __future__ import annotations

import re

BOM = "\ufeff"
FORM_FEED = "\f"
"""Python ignores a form feed at the start of a line; one code point, like the BOM it stands for."""
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""JSON decoding joins valid pairs into one code point, so any surrogate left is a lone one."""


def analyzable(text: str) -> str:
    if text.isascii():
        return text
    if text.startswith(BOM):
        text = FORM_FEED + text[1:]
    return LONE_SURROGATE.sub("\ufffd", text)


__all__ = ["analyzable"]
