// The Graph diff tab's two drawn graphs, side by side and in step (drawing.py
// sends them a scope at a time). Each pane lays out only the scopes that are
// open, one level per job in the layout worker (layout.js), and draws SVG.
// Opening, closing, selecting or panning in one pane does the same to the
// matched part of the other: every item carries its peer's path.
// Names from a graph enter the page as text or attribute values only.

import {Layouts} from './layouts.js';

const SVG = 'http://www.w3.org/2000/svg';
export const STATUSES = ['same', 'removed', 'added', 'changed', 'renamed'];
// A glyph for each status, so the drawing does not lean on colour alone.
export const GLYPH = {same: '', removed: '− ', added: '+ ', changed: '~ ', renamed: '→ '};
const LABEL_CHARS = 30;
// Roughly one character of the 11px bold label; wide enough for most fonts.
const CHAR_PX = 7.1;
const NODE_H = 34;
const SCOPE_H = 40;
const PAD = 12;
const HEADER = 30;
const MIN_ZOOM = 0.05;
const MAX_ZOOM = 3;

// --- one pane ------------------------------------------------------------------------

class Pane {
  constructor(side, label, graphs) {
    this.side = side;
    this.graphs = graphs;
    this.items = new Map([[0, {id: 0, kind: 'scope', name: '', label: '', status: 'same'}]]);
    this.parents = new Map();
    this.levels = new Map();
    this.expanded = new Set([0]);
    this.layouts = new Map();
    this.abs = new Map();
    this.view = {x: 0, y: 0, k: 1};
    this.selected = null;
    this.lit = new Set();
    this.svg = svg('svg', {class: 'gd-svg', role: 'img', 'aria-label': `Graph of ${label}`});
    this.world = svg('g', {class: 'gd-world'});
    this.svg.appendChild(defs());
    this.svg.appendChild(this.world);
    this.el = h('div', {class: 'gd-pane', id: `gd-pane-${side}`, 'data-side': side}, [
      h('div', {class: 'gd-pane-title'}, label),
      this.svg,
    ]);
    this.listen();
  }

  async load(id) {
    if (this.levels.has(id)) return this.levels.get(id);
    const data = await this.graphs.fetch('level', {side: this.side, id});
    const kids = data.items.map((item) => {
      this.items.set(item.id, item);
      this.parents.set(item.id, id);
      return item.id;
    });
    const level = {kids, edges: data.edges};
    this.levels.set(id, level);
    return level;
  }

  expandable(id) {
    const item = this.items.get(id);
    return !!item && item.kind !== 'node';
  }

  async open(id) {
    if (!this.expandable(id)) return;
    await this.load(id);
    this.expanded.add(id);
  }

  close(id) {
    if (id !== 0) this.expanded.delete(id);
  }

  // Opens every scope on the way to the item at the end of path (and that item too, when asked).
  async openPath(path, {last = false} = {}) {
    const upto = last ? path.length : path.length - 1;
    for (let i = 0; i < upto; i++) await this.open(path[i]);
  }

  size(id) {
    const item = this.items.get(id);
    if (this.expanded.has(id) && this.layouts.has(id)) {
      const inner = this.layouts.get(id);
      return {w: Math.max(inner.width + 2 * PAD, textPx(labelOf(item)) + 60), h: inner.height + HEADER + PAD};
    }
    if (item.kind === 'node') {
      return {w: clamp(Math.max(textPx(GLYPH[item.status] + labelOf(item)), textPx(item.op)) + 22, 56, 260), h: NODE_H};
    }
    return {w: clamp(Math.max(textPx(GLYPH[item.status] + labelOf(item)), textPx(countsText(item))) + 44, 90, 290), h: SCOPE_H};
  }

  // Lays out every open level, deepest first; a level whose items kept their sizes keeps its layout.
  async layout(id = 0) {
    const level = await this.load(id);
    await Promise.all(level.kids.filter((k) => this.expanded.has(k)).map((k) => this.layout(k)));
    const sizes = level.kids.map((k) => this.size(k));
    const sig = sizes.map((s) => `${s.w}x${s.h}`).join(',');
    const cached = this.layouts.get(id);
    if (cached && cached.sig === sig) return cached;
    const result = await this.graphs.layouts.layout(
      sizes.map((s, i) => ({id: i, w: s.w, h: s.h})),
      level.edges.map((e) => [e[0], e[1]])
    );
    const out = {sig, sizes, width: result.width, height: result.height, at: result.nodes, routes: result.edges};
    this.layouts.set(id, out);
    return out;
  }

  render() {
    const world = svg('g', {class: 'gd-world'});
    this.abs = new Map();
    this.drawLevel(world, 0, 0, 0);
    this.world.replaceWith(world);
    this.world = world;
    this.applyView();
  }

  drawLevel(into, id, ox, oy) {
    const level = this.levels.get(id);
    const layout = this.layouts.get(id);
    if (!level || !layout) return;
    const edges = svg('g', {class: 'gd-edges'});
    level.edges.forEach(([from, to, count, data], n) => {
      const points = layout.routes[n];
      if (!points || points.length < 4) return;
      let d = `M${points[0].toFixed(1)},${points[1].toFixed(1)}`;
      for (let i = 2; i < points.length; i += 2) d += `L${points[i].toFixed(1)},${points[i + 1].toFixed(1)}`;
      const a = this.items.get(level.kids[from]);
      const b = this.items.get(level.kids[to]);
      const path = svg('path', {
        class: data ? 'gd-edge' : 'gd-edge gd-control', d, 'marker-end': 'url(#gd-arrow)',
        'stroke-width': Math.min(1 + Math.log2(count), 5).toFixed(2),
        'data-from': a.name || a.label, 'data-to': b.name || b.label, 'data-count': count,
      });
      path.appendChild(svg('title', {}, `${count} edge${count === 1 ? '' : 's'}: ${a.name || a.label} → ${b.name || b.label}`));
      edges.appendChild(path);
    });
    into.appendChild(edges);
    level.kids.forEach((kid, i) => {
      const [cx, cy] = layout.at[i];
      const {w, h: height} = layout.sizes[i];
      this.drawItem(into, kid, cx - w / 2, cy - height / 2, w, height, ox, oy);
    });
  }

  drawItem(into, id, x, y, w, height, ox, oy) {
    const item = this.items.get(id);
    const open = this.expanded.has(id);
    const attrs = {
      class: `gd-item gd-${item.kind}${open ? ' gd-open' : ''}${this.selected === id ? ' gd-selected' : ''}${this.lit.has(id) ? ' gd-lit' : ''}`,
      transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`, 'data-id': id, 'data-status': item.status, 'data-kind': item.kind,
    };
    const drift = this.graphs.drift && this.graphs.drift[this.side].get(id);
    if (drift !== undefined) {
      attrs['data-drift'] = driftBucket(drift);
      attrs['data-ratio'] = drift.toPrecision(3);
    }
    if (item.kind === 'group') attrs['data-group'] = item.label;
    else attrs['data-node'] = item.name;
    if (item.kind !== 'node') {
      attrs['data-expandable'] = '1';
      attrs['data-expanded'] = open ? '1' : '0';
      attrs['data-count'] = item.nodes;
    } else {
      attrs['data-op'] = item.op;
    }
    const g = svg('g', attrs);
    g.appendChild(svg('rect', {class: 'gd-halo', x: -4, y: -4, width: w + 8, height: height + 8, rx: 9}));
    g.appendChild(svg('rect', {class: 'gd-shape', width: w, height, rx: item.kind === 'node' ? 12 : 4}));
    g.appendChild(svg('title', {}, titleOf(item)));
    const text = GLYPH[item.status] + labelOf(item);
    if (item.kind === 'node') {
      g.appendChild(svg('text', {class: 'gd-label', x: w / 2, y: 14, 'text-anchor': 'middle'}, text));
      g.appendChild(svg('text', {class: 'gd-op-text', x: w / 2, y: 27, 'text-anchor': 'middle'}, item.op));
    } else {
      g.appendChild(svg('text', {class: 'gd-label', x: 10, y: 16}, text));
      g.appendChild(svg('text', {class: 'gd-op-text', x: 10, y: 30}, countsText(item)));
      const toggle = svg('g', {class: 'gd-toggle', transform: `translate(${w - 22},4)`, role: 'button',
        'aria-label': `${open ? 'Close' : 'Open'} ${item.name || item.label}`});
      toggle.appendChild(svg('rect', {width: 18, height: 18, rx: 3}));
      toggle.appendChild(svg('text', {x: 9, y: 14, 'text-anchor': 'middle'}, open ? '−' : '+'));
      g.appendChild(toggle);
    }
    into.appendChild(g);
    this.abs.set(id, {x: ox + x, y: oy + y, w, h: height});
    if (open) {
      const inner = svg('g', {class: 'gd-inner', transform: `translate(${PAD},${HEADER})`});
      g.appendChild(inner);
      this.drawLevel(inner, id, ox + x + PAD, oy + y + HEADER);
    }
  }

  applyView() {
    const {x, y, k} = this.view;
    this.world.setAttribute('transform', `translate(${x.toFixed(1)},${y.toFixed(1)}) scale(${k.toFixed(4)})`);
  }

  box() {
    const r = this.svg.getBoundingClientRect();
    return {w: r.width || 600, h: r.height || 500};
  }

  fit() {
    const root = this.layouts.get(0);
    if (!root) return;
    const {w, h: height} = this.box();
    const k = clamp(Math.min(w / (root.width + 20), height / (root.height + 20)), 0.2, 1);
    this.view = {k, x: (w - root.width * k) / 2, y: 10};
    this.applyView();
  }

  // Brings an item to the upper middle of the pane; an open scope is zoomed out to fit, if it can be read.
  centreOn(id) {
    const at = this.abs.get(id);
    if (!at) return;
    const {w, h: height} = this.box();
    // A node at full size; an open scope as a whole if that stays legible (labels are 11px at zoom 1).
    const k = this.expanded.has(id) ? clamp(Math.min((w - 20) / at.w, (height - 20) / at.h), 0.6, 1) : 1;
    this.view = {k, x: w / 2 - k * (at.x + at.w / 2), y: height / 3 - k * (at.y + Math.min(at.h, height / k / 3) / 2)};
    this.applyView();
  }

  // What the other pane lines up with: the selected item while it is in view, else the drawn
  // item nearest the middle of the pane whose peer is drawn there too.
  anchor(other) {
    const {w, h: height} = this.box();
    const {x, y, k} = this.view;
    const chosen = this.selected !== null && this.abs.get(this.selected);
    if (chosen) {
      const sx = x + k * (chosen.x + chosen.w / 2);
      const sy = y + k * (chosen.y + chosen.h / 2);
      const peer = other.selected !== null && other.abs.has(other.selected) ? other.selected : null;
      if (peer !== null && sx >= 0 && sx <= w && sy >= 0 && sy <= height) return {id: this.selected, peer, sx, sy};
    }
    let best = null;
    let bestD = Infinity;
    for (const [id, at] of this.abs) {
      if (this.expanded.has(id)) continue;
      const sx = x + k * (at.x + at.w / 2);
      const sy = y + k * (at.y + at.h / 2);
      const d = (sx - w / 2) ** 2 + (sy - height / 2) ** 2;
      if (d >= bestD) continue;
      const peer = other.drawnAlong(this.items.get(id).peer);
      if (peer === null) continue;
      best = {id, peer, sx, sy};
      bestD = d;
    }
    return best;
  }

  drawnAlong(peer) {
    if (!peer) return null;
    for (let i = peer.path.length - 1; i >= 0; i--) if (this.abs.has(peer.path[i])) return peer.path[i];
    return null;
  }

  listen() {
    let drag = null;
    this.svg.addEventListener('pointerdown', (event) => {
      if (event.button !== 0 || event.target.closest('.gd-item')) return;
      drag = {x: event.clientX, y: event.clientY, vx: this.view.x, vy: this.view.y};
      try {
        this.svg.setPointerCapture(event.pointerId);
      } catch (err) {
        // A pointer the browser does not track (a synthetic one): the drag still works inside the pane.
      }
    });
    this.svg.addEventListener('pointermove', (event) => {
      if (!drag) return;
      this.view.x = drag.vx + event.clientX - drag.x;
      this.view.y = drag.vy + event.clientY - drag.y;
      this.applyView();
      this.graphs.follow(this);
    });
    const end = () => {
      drag = null;
    };
    this.svg.addEventListener('pointerup', end);
    this.svg.addEventListener('pointercancel', end);
    this.svg.addEventListener('wheel', (event) => {
      event.preventDefault();
      const r = this.svg.getBoundingClientRect();
      const px = event.clientX - r.left;
      const py = event.clientY - r.top;
      const k = clamp(this.view.k * Math.exp(-event.deltaY / 500), MIN_ZOOM, MAX_ZOOM);
      this.view.x = px - (px - this.view.x) * (k / this.view.k);
      this.view.y = py - (py - this.view.y) * (k / this.view.k);
      this.view.k = k;
      this.applyView();
      this.graphs.follow(this);
    }, {passive: false});
    this.svg.addEventListener('click', (event) => {
      const el = event.target.closest('.gd-item');
      if (!el) return;
      event.stopPropagation();
      const id = Number(el.getAttribute('data-id'));
      if (event.target.closest('.gd-toggle')) this.graphs.toggle(this, id);
      else this.graphs.select(this, id);
    });
    this.svg.addEventListener('dblclick', (event) => {
      const el = event.target.closest('.gd-item');
      if (el && el.getAttribute('data-expandable') === '1' && !event.target.closest('.gd-toggle')) {
        event.stopPropagation();
        this.graphs.toggle(this, Number(el.getAttribute('data-id')));
      }
    });
  }
}

// --- both panes ----------------------------------------------------------------------

export class Graphs {
  // fetch(route, params) -> Promise of the JSON; labels: {a, b}; onSelect(pane side, item) opens the node panel.
  constructor({fetch, labels, base, onSelect}) {
    this.fetch = fetch;
    this.onSelect = onSelect;
    this.layouts = new Layouts(base);
    this.a = new Pane('a', labels.a, this);
    this.b = new Pane('b', labels.b, this);
    this.queue = Promise.resolve();
    this.pending = 0;
    this.el = h('div', {class: 'gd-graphs', id: 'gd-graphs', 'data-drawn': '0', 'data-busy': '0'}, [this.a.el, this.b.el]);
  }

  other(pane) {
    return pane === this.a ? this.b : this.a;
  }

  pane(side) {
    return side === 'a' ? this.a : this.b;
  }

  // The drift verify --layers recorded (backend /drift): each item's ratio to its noise floor; the panes redrawn with it.
  setDrift(found) {
    this.drift = {a: new Map(found.items.a), b: new Map(found.items.b)};
    return this.run(async () => this.redraw());
  }

  colourBy(mode) {
    this.el.classList.toggle('gd-by-drift', mode === 'drift');
    this.el.setAttribute('data-colour', mode);
  }

  // One change at a time: each waits for the one before, so the panes never interleave.
  run(work) {
    this.pending++;
    this.el.setAttribute('data-busy', '1');
    const next = this.queue.then(work).catch((err) => this.failed(err)).finally(() => {
      this.pending--;
      if (!this.pending) this.el.setAttribute('data-busy', '0');
    });
    this.queue = next;
    return next;
  }

  failed(err) {
    console.error(err);
    const box = this.el.querySelector('.gd-graphs-error') || h('p', {class: 'gd-error gd-graphs-error'});
    box.textContent = `Drawing failed: ${err.message}`;
    this.el.prepend(box);
  }

  start() {
    return this.run(async () => {
      await Promise.all([this.a.layout(), this.b.layout()]);
      for (const pane of [this.a, this.b]) {
        pane.render();
        pane.fit();
      }
      this.el.setAttribute('data-drawn', '1');
    });
  }

  async redraw(focus, id) {
    await Promise.all([this.a.layout(), this.b.layout()]);
    this.a.render();
    this.b.render();
    if (focus && id !== undefined) {
      focus.centreOn(id);
      this.follow(focus);
    }
  }

  toggle(pane, id) {
    return this.run(async () => {
      const other = this.other(pane);
      const item = pane.items.get(id);
      const open = !pane.expanded.has(id);
      if (open) {
        await pane.open(id);
        await other.openPath(item.peer.path, {last: item.peer.exact});
      } else {
        pane.close(id);
        const peer = item.peer.path[item.peer.path.length - 1];
        if (item.peer.exact && peer !== undefined) other.close(peer);
      }
      await this.redraw(pane, id);
    });
  }

  select(pane, id) {
    return this.run(async () => {
      const other = this.other(pane);
      const item = pane.items.get(id);
      pane.selected = id;
      other.selected = null;
      if (item.peer.exact && item.peer.path.length) {
        await other.openPath(item.peer.path);
        other.selected = item.peer.path[item.peer.path.length - 1];
      }
      await this.redraw(pane, id);
      const peerItem = other.selected !== null ? other.items.get(other.selected) : null;
      if (this.onSelect) this.onSelect(pane.side, item, peerItem);
    });
  }

  // Shows a node found by search (or linked from a list) in its pane, and its peer in the other.
  reveal(side, path, peer) {
    return this.run(async () => {
      const pane = this.pane(side);
      const other = this.other(pane);
      await pane.openPath(path);
      const id = path[path.length - 1];
      pane.selected = id === undefined ? null : id;
      other.selected = null;
      if (peer && peer.path.length) {
        await other.openPath(peer.path);
        if (peer.exact) other.selected = peer.path[peer.path.length - 1];
      }
      await this.redraw(pane, id);
      const item = pane.items.get(id);
      if (item && this.onSelect) this.onSelect(side, item, other.selected !== null ? other.items.get(other.selected) : null);
    });
  }

  // Lights up a story's items (drawing.Drawing.story) on both sides and shows its first node on each.
  light(story) {
    return this.run(async () => {
      for (const side of ['a', 'b']) {
        const pane = this.pane(side);
        pane.lit = new Set(story[side].lit);
        await pane.openPath(story[side].first);
      }
      await this.redraw();
      for (const side of ['a', 'b']) {
        const first = story[side].first;
        if (first.length) this.pane(side).centreOn(first[first.length - 1]);
      }
    });
  }

  follow(pane) {
    const other = this.other(pane);
    const anchor = pane.anchor(other);
    if (!anchor) return;
    const at = other.abs.get(anchor.peer);
    other.view.k = pane.view.k;
    other.view.x = anchor.sx - other.view.k * (at.x + at.w / 2);
    other.view.y = anchor.sy - other.view.k * (at.y + at.h / 2);
    other.applyView();
  }
}

// --- helpers -------------------------------------------------------------------------

// Drift in bands of the noise floor: 0 within it, then each tenfold beyond.
export const DRIFT_BANDS = ['within the noise floor', '1–10× the floor', '10–100×', '100–1000×', 'over 1000×'];

export function driftBucket(ratio) {
  if (!(ratio > 1)) return 0;
  return Math.min(DRIFT_BANDS.length - 1, 1 + Math.floor(Math.log10(ratio)));
}

function labelOf(item) {
  const text = item.label || '(root)';
  return text.length > LABEL_CHARS ? text.slice(0, LABEL_CHARS - 1) + '…' : text;
}

function titleOf(item) {
  if (item.kind === 'node') return `${item.name} (${item.op}): ${item.status}`;
  const what = item.kind === 'group' ? `${item.label}: consecutive items of one scope` : item.name;
  return `${what}: ${countsText(item)}`;
}

function countsText(item) {
  if (!item.counts) return '';
  const [same, removed, added, changed, renamed] = item.counts;
  const parts = [`${item.nodes} node${item.nodes === 1 ? '' : 's'}`];
  if (removed) parts.push(`−${removed}`);
  if (added) parts.push(`+${added}`);
  if (changed) parts.push(`~${changed}`);
  if (renamed) parts.push(`→${renamed}`);
  void same;
  return parts.join(' ');
}

function textPx(text) {
  return (text || '').length * CHAR_PX;
}

function clamp(v, lo, hi) {
  return Math.max(lo, Math.min(hi, v));
}

function defs() {
  const d = svg('defs', {});
  const marker = svg('marker', {id: 'gd-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
    orient: 'auto-start-reverse', markerUnits: 'userSpaceOnUse'});
  marker.appendChild(svg('path', {d: 'M0,0L10,5L0,10z', class: 'gd-arrowhead'}));
  d.appendChild(marker);
  return d;
}

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function h(tag, attrs, children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, v);
  }
  for (const child of [].concat(children === undefined ? [] : children)) {
    if (child === null || child === undefined || child === '') continue;
    el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}
