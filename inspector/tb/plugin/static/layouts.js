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
    // The worker's own script and the same dagre build, loaded as classic scripts into the page.
    for (const file of ['./dagre.min.js', './layout.js']) {
      if (file === './dagre.min.js' ? window.dagre : window.inspectorLayout) continue;
      await new Promise((resolve, reject) => {
        const script = document.createElement('script');
        script.src = new URL(file, this.base).href;
        script.onload = resolve;
        script.onerror = () => reject(new Error(`could not load ${file}`));
        document.head.appendChild(script);
      });
    }
    this.done(window.inspectorLayout(job, nodes, edges, {}));
  }
}
