"""Names the Graph diff plugin shares with the library: plugin and tab name, marker file, text-summary run."""

from __future__ import annotations

# The plugin's URL prefix (/data/plugin/graph_diff/) and the hash TensorBoard uses for the tab.
PLUGIN_NAME = "graph_diff"
TAB_NAME = "Graph diff"
# Where `inspector compare` records the pair it wrote, relative to the logdir.
MARKER = ".inspector/compare.json"
# The run that holds the diff as a text summary (for TensorBoards without the plugin).
TEXT_RUN = ".inspector-diff"
