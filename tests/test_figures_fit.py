"""Tests: charts fit the card they are drawn in, at a phone's width (390 px) as at a desktop's — empty states in
short lines, legends that grow away from the data, axis titles off the neighbouring panel, every bucket of a
range drawn whole, labels inside the figure."""

from __future__ import annotations

import re

from dashboard import figures


def _visible_lines(text: str) -> list[str]:
    """An annotation's lines as plotly draws them (tags dropped, entities as one character)."""
    plain = (
        re.sub(r"<(?!br>)[^>]+>", "", text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
    return plain.split("<br>")


def test_the_empty_state_fits_a_phone_width_card() -> None:
    """At 390 px one centred line of 56 characters lost "a task" off the right edge of a chart with a 70 px
    left margin: the message and the hint come in short lines, with small margins (there are no axes)."""
    for message in (figures.NO_DATA, "this worker finished no task in this range"):
        fig = figures.empty_figure(message)
        lines = _visible_lines(fig.layout.annotations[0].text)
        assert all(len(line) <= figures.EMPTY_LINE for line in lines), lines
        assert " ".join(lines) == f"{message} {figures.START_HINT}"
        assert any("python app.py --demo" in line for line in lines)  # the command is never broken
        assert max(fig.layout.margin.l, fig.layout.margin.r) <= 10
    escaped = figures.empty_figure("<b>no</b> data", hint=False).layout.annotations[0].text
    assert escaped == "&lt;b&gt;no&lt;/b&gt; data"
