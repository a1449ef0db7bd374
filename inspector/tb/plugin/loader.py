"""The `tensorboard_plugins` entry point: loads GraphDiffPlugin, and keeps TensorBoard up if it cannot."""

from __future__ import annotations

import logging

from tensorboard.plugins import base_plugin

_log = logging.getLogger(__name__)


class GraphDiffLoader(base_plugin.TBLoader):
    """Loads the Graph diff tab; TensorBoard instantiates this for every board in the environment."""

    def load(self, context: base_plugin.TBContext) -> base_plugin.TBPlugin | None:
        # Imported here so a broken install costs the tab, not the whole board.
        try:
            from inspector.tb.plugin.backend import GraphDiffPlugin
        except Exception:  # noqa: BLE001 - any failure must leave TensorBoard running
            _log.exception("inspector's Graph diff tab could not be loaded; TensorBoard runs without it")
            return None
        return GraphDiffPlugin(context)
