"""Text from data or a person is shown as text: never markup, links or images fetched from elsewhere."""

from __future__ import annotations


def test_text_from_data_shows_as_text_in_a_model_card() -> None:
    """Column names and promotion reasons were rendered as Markdown: an image from any URL was fetched."""
    from markdown_it import MarkdownIt

    from studio.markup import text

    evil = "![beacon](http://127.0.0.1:9/pixel.png) <img src=http://127.0.0.1:9/x> [click](javascript:alert(1)) |x"
    table = f"| a | b |\n|---|---|\n| {text(evil)} | 1 |"
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(table)
    assert "<img" not in html and "<a " not in html and "&lt;img" in html
    assert "<td>![beacon](http://127.0.0.1:9/pixel.png)" in html  # one cell: the pipe did not split it
