// The Graph diff tab's layout worker: lays out one scope's items at a time
// with dagre (vendor/, MIT), top to bottom as TensorBoard draws, off the page's
// main thread. Message in: {job, nodes: [{id, w, h}], edges: [[from, to]]};
// message out: {job, width, height, nodes: {id: [x, y]}, edges: [[x, y, ...]]},
// centres and edge points in the scope's own coordinates.
// Loaded as a classic script into the page instead (layouts.js), where workers are
// refused, it only defines self.inspectorLayout: one layout function for both.
/* global dagre, importScripts */
self.inspectorLayout = layout;
if (typeof window === 'undefined') {
  importScripts('./dagre.min.js');
  self.onmessage = (event) => {
    const {job, nodes, edges, options} = event.data;
    try {
      self.postMessage(layout(job, nodes, edges, options || {}));
    } catch (err) {
      self.postMessage({job, error: String(err && err.message ? err.message : err)});
    }
  };
}

function layout(job, nodes, edges, options) {
  const g = new dagre.graphlib.Graph({multigraph: false});
  g.setGraph({
    rankdir: 'TB',
    nodesep: options.nodesep || 18,
    ranksep: options.ranksep || 28,
    edgesep: 8,
    marginx: 8,
    marginy: 8,
  });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(String(n.id), {width: n.w, height: n.h});
  for (const [from, to] of edges) {
    if (from !== to) g.setEdge(String(from), String(to));
  }
  dagre.layout(g);
  const placed = {};
  for (const n of nodes) {
    const at = g.node(String(n.id));
    placed[n.id] = [at.x, at.y];
  }
  const routed = edges.map(([from, to]) => {
    const e = from !== to && g.edge(String(from), String(to));
    return e && e.points ? e.points.flatMap((p) => [p.x, p.y]) : [];
  });
  const graph = g.graph();
  return {job, width: graph.width || 0, height: graph.height || 0, nodes: placed, edges: routed};
}
