"""Text from data or a person, shown as text: in Markdown (model cards, page captions) nothing it holds becomes a
link, an image fetched from elsewhere, HTML or other markup."""

from __future__ import annotations

import re

#: What could turn text into markup: links and images, HTML, code spans, table cells, emphasis, entities.
_MARKDOWN = re.compile(r"([\\`*\[\]()!|<>#~&$])")


def text(value: object) -> str:
    """Any text as literal Markdown: punctuation that could start markup escaped, line breaks as spaces."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(value).split()))
