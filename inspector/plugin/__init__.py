"""The "Graph diff" TensorBoard tab: plugin, default-pair marker, tab URL, and the diff as a text summary."""

from __future__ import annotations

from inspector.plugin.metadata import MARKER, PLUGIN_NAME, TAB_NAME, TEXT_RUN
from inspector.plugin.pair import diff_tab_url, read_pair, record_pair
from inspector.plugin.textsummary import TextWritten, diff_markdown, write_text_summary

__all__ = [
    "MARKER",
    "PLUGIN_NAME",
    "TAB_NAME",
    "TEXT_RUN",
    "TextWritten",
    "diff_markdown",
    "diff_tab_url",
    "read_pair",
    "record_pair",
    "write_text_summary",
]
