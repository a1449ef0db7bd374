// The Graph diff tab's layout jobs: each open scope's items laid out by dagre
// in the worker (layout.js), or in the page itself where workers are refused.

export class Layouts {
  constructor(base) {
    this.jobs = new Map();
    this.next = 1;
    this.base = base;
    try {
      this.worker = new Worker(new URL('./layout.js', base));
      this.worker.onmessage = (event) => this.done(event.data);
      this.worker.onerror = (event) => {
        event.preventDefault();
        this.fallBack(String(event.message || 'the layout worker failed'));
      };
    } catch (err) {
      this.worker = null;
    }
  }

  layout(nodes, edges) {
    const job = this.next++;
    return new Promise((resolve, reject) => {
      this.jobs.set(job, {resolve, reject, nodes, edges});
      if (this.worker) this.worker.postMessage({job, nodes, edges});
      else this.inPage(job, nodes, edges);
    });
  }

  done(result) {
    const pending = this.jobs.get(result.job);
    if (!pending) return;
    this.jobs.delete(result.job);
    if (result.error) pending.reject(new Error(`layout failed: ${result.error}`));
    else pending.resolve(result);
  }

  fallBack(why) {
    console.warn(`Graph diff: ${why}; laying out on the page instead`);
    this.worker = null;
    for (const [job, {nodes, edges}] of this.jobs) this.inPage(job, nodes, edges);
  }

  async inPage(job, nodes, edges) {
    // The same dagre build, loaded as a classic script into the page.
    if (!window.dagre) {
      await new Promise((resolve, reject) => {
        const script = document.createElement('script');
        script.src = new URL('./dagre.min.js', this.base).href;
        script.onload = resolve;
        script.onerror = () => reject(new Error('could not load dagre.min.js'));
        document.head.appendChild(script);
      });
    }
    const g = new window.dagre.graphlib.Graph();
    g.setGraph({rankdir: 'TB', nodesep: 18, ranksep: 28, edgesep: 8, marginx: 8, marginy: 8});
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of nodes) g.setNode(String(n.id), {width: n.w, height: n.h});
    for (const [from, to] of edges) if (from !== to) g.setEdge(String(from), String(to));
    window.dagre.layout(g);
    const placed = {};
    for (const n of nodes) placed[n.id] = [g.node(String(n.id)).x, g.node(String(n.id)).y];
    const routed = edges.map(([f, t]) => {
      const e = f !== t && g.edge(String(f), String(t));
      return e && e.points ? e.points.flatMap((p) => [p.x, p.y]) : [];
    });
    this.done({job, width: g.graph().width || 0, height: g.graph().height || 0, nodes: placed, edges: routed});
  }
}
