"""The "Graph diff" TensorBoard tab: plugin names, the default-pair marker and the tab's URL (backend and JS beside)."""

from __future__ import annotations

from inspector.tb.plugin.metadata import MARKER, PLUGIN_NAME, TAB_NAME, TEXT_RUN
from inspector.tb.plugin.pair import diff_tab_url, read_pair, record_pair

__all__ = ["MARKER", "PLUGIN_NAME", "TAB_NAME", "TEXT_RUN", "diff_tab_url", "read_pair", "record_pair"]
