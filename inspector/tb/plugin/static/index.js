// The "Graph diff" tab. TensorBoard loads this ES module into an iframe whose
// <base> is this plugin's route (./runs, ./diff, ./level, ...); it talks to
// nothing else. Plain DOM and SVG, no framework and no build step, so it ships
// as it is; panes.js draws the two graphs, layout.js lays them out.
// Every name from a graph is data: it enters the page as a text node (h()) or
// in a data-* or title attribute, never as HTML; classes come from fixed lists.

import {Graphs, h} from './panes.js';
import {driftControls, legend, searchBox} from './toolbar.js';

// Scope summaries listed before "Show N more": an Inception-sized diff has ~100.
const SCOPES_SHOWN = 12;
const KIND_CLASS = {added: 'added', removed: 'removed'};

const state = {runs: [], a: null, b: null, data: null, graphs: null};

export async function render() {
  document.head.appendChild(h('link', {rel: 'stylesheet', href: './style.css'}));
  const app = h('div', {class: 'gd-app', id: 'graph-diff'});
  document.body.appendChild(app);
  app.appendChild(h('p', {class: 'gd-loading'}, 'Loading runs…'));
  let listing;
  try {
    listing = await getJSON('./runs');
  } catch (err) {
    app.replaceChildren(errorBox(err.message));
    return;
  }
  state.runs = listing.runs.map((r) => r.run);
  if (state.runs.length === 0) {
    app.replaceChildren(
      errorBox(
        `No run in ${listing.logdir} has a graph yet. Write two with ` +
          '`inspector compare retrained_graph.pb optimized_graph.pb --logdir ' +
          listing.logdir + '`.'
      )
    );
    return;
  }
  const wanted = pairFromTopUrl();
  const fallback = listing.default || {a: state.runs[0], b: state.runs[0]};
  state.a = wanted && state.runs.includes(wanted.a) ? wanted.a : fallback.a;
  state.b = wanted && state.runs.includes(wanted.b) ? wanted.b : fallback.b;

  const body = h('div', {class: 'gd-body'});
  app.replaceChildren(controls(listing), body);
  for (const problem of listing.problems || []) {
    app.insertBefore(h('p', {class: 'gd-note'}, 'Skipped: ' + problem), body);
  }
  followTopUrl(app);
  await showDiff(body);
}

function followTopUrl(app) {
  // A link to another pair (diff_tab_url) may land on a page that already has
  // this tab open: only the top window's hash changes.
  try {
    window.top.addEventListener('hashchange', () => {
      const wanted = pairFromTopUrl();
      if (!wanted || (wanted.a === state.a && wanted.b === state.b)) return;
      if (!state.runs.includes(wanted.a) || !state.runs.includes(wanted.b)) return;
      state.a = wanted.a;
      state.b = wanted.b;
      app.querySelector('#gd-run-a').value = state.a;
      app.querySelector('#gd-run-b').value = state.b;
      showDiff(app.querySelector('.gd-body'));
    });
  } catch (err) {
    // Cross-origin top window: the selects still work.
  }
}

// --- the pair ----------------------------------------------------------------

function pairFromTopUrl() {
  // TensorBoard keeps extra hash keys (#graph_diff&a=X&b=Y); the iframe reads
  // them from the top window, which is same-origin.
  try {
    const params = new URLSearchParams(window.top.location.hash.replace(/^#[^&]*/, ''));
    const a = params.get('a');
    const b = params.get('b');
    return a && b ? {a, b} : null;
  } catch (err) {
    return null;
  }
}

function writeTopUrl() {
  try {
    const top = window.top;
    const hash = top.location.hash.split('&')[0] || '#graph_diff';
    const next = `${hash}&a=${encodeURIComponent(state.a)}&b=${encodeURIComponent(state.b)}`;
    top.history.replaceState(top.history.state, '', next);
  } catch (err) {
    // Not fatal: only a reload would forget the pair.
  }
}

function graphTabUrl(run) {
  // The iframe's base is <root>/data/plugin/graph_diff/, so <root> is three up;
  // this keeps working under --path_prefix.
  const root = new URL('../../../', document.baseURI);
  return `${root.pathname}#graphs&run=${encodeURIComponent(run)}`;
}

function controls(listing) {
  const pick = (side) => {
    const select = h(
      'select',
      {id: `gd-run-${side}`, 'aria-label': side === 'a' ? 'Run before' : 'Run after'},
      listing.runs.map((r) => {
        const option = h('option', {}, `${r.run} (${r.nodes.toLocaleString()} nodes)`);
        option.value = r.run;
        return option;
      })
    );
    select.value = state[side];
    select.addEventListener('change', () => {
      state[side] = select.value;
      reload();
    });
    return select;
  };
  const selectA = pick('a');
  const selectB = pick('b');
  const swap = h('button', {type: 'button', class: 'gd-button', title: 'Swap the two runs'}, '⇄');
  swap.addEventListener('click', () => {
    [state.a, state.b] = [state.b, state.a];
    selectA.value = state.a;
    selectB.value = state.b;
    reload();
  });
  // Which rule chose before and after: the pair compare recorded, else the backend's rule (said as it says it).
  const chosen = listing.default && listing.default.source;
  const source = chosen === 'recorded' ? 'the pair inspector compare wrote' : chosen && chosen !== 'the only run' ? chosen : null;
  return h('div', {class: 'gd-controls'}, [
    h('label', {}, ['Before ', selectA]),
    swap,
    h('label', {}, ['After ', selectB]),
    source ? h('span', {class: 'gd-dim'}, `default: ${source}`) : null,
  ]);
}

async function reload() {
  writeTopUrl();
  await showDiff(document.querySelector('.gd-body'));
}

// --- the diff ----------------------------------------------------------------

async function showDiff(body) {
  const {a, b} = state;
  body.replaceChildren(h('p', {class: 'gd-loading'}, `Comparing ${a} with ${b}…`));
  let data;
  try {
    data = await getJSON(`./diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  } catch (err) {
    body.replaceChildren(errorBox(err.message));
    return;
  }
  if (state.a !== a || state.b !== b) return; // a newer choice is loading
  state.data = data;
  const graphs = new Graphs({
    fetch: (route, params) => getJSON(`./${route}?${new URLSearchParams({a, b, ...params})}`),
    labels: {a: data.diff.a.label, b: data.diff.b.label},
    base: document.baseURI,
    onSelect: (side, item, peer) => showNode(panel, side, item, peer),
  });
  state.graphs = graphs;
  const panel = h('section', {class: 'gd-node-panel', id: 'gd-node-panel'},
    h('p', {class: 'gd-dim'}, 'Click a node or a scope to see it before and after; double-click a scope to open it.'));
  body.replaceChildren(
    summary(data),
    h('section', {class: 'gd-drawn'}, [
      h('div', {class: 'gd-toolbar'}, [searchBox(graphs), legend()]),
      graphs.el,
      panel,
    ]),
    h('div', {class: 'gd-columns'}, [storyList(data.diff, data.story_words || {}), opTable(data.diff)]),
    h('div', {class: 'gd-columns'}, [scopeList(data.diff), changedList(data.diff)])
  );
  await graphs.start();
  let drift = null;
  try {
    drift = await graphs.fetch('drift', {});
  } catch (err) {
    drift = null; // no drift to show: the tab works without it
  }
  if (drift && drift.found && state.graphs === graphs) {
    body.querySelector('.gd-toolbar').appendChild(driftControls(graphs, drift, {a: data.diff.a.label, b: data.diff.b.label}));
    await graphs.setDrift(drift);
  }
}

// Shows a node or scope by its full name: found through the drawing's search, in its side and its peer in the other.
async function showName(side, name) {
  const graphs = state.graphs;
  if (!graphs) return;
  const data = await graphs.fetch('search', {q: name});
  const hit = data.found.find((f) => f.side === side && f.name === name) || data.found.find((f) => f.name === name);
  if (hit) {
    await graphs.reveal(hit.side, hit.path, hit.peer);
    graphs.el.scrollIntoView({block: 'start'});
  }
}

async function showStory(index) {
  const graphs = state.graphs;
  if (!graphs) return;
  const story = await graphs.fetch('story', {i: index});
  await graphs.light(story);
  graphs.el.scrollIntoView({block: 'start'});
}

// --- the node panel ------------------------------------------------------------

async function showNode(panel, side, item, peer) {
  const labels = {a: state.data.diff.a.label, b: state.data.diff.b.label};
  if (item.kind !== 'node') {
    const sides = {[side]: item, [side === 'a' ? 'b' : 'a']: peer};
    panel.replaceChildren(
      h('h3', {}, item.kind === 'group' ? item.label : item.name),
      h('div', {class: 'gd-panel-columns'}, ['a', 'b'].map((s) => h('div', {class: 'gd-panel-side', 'data-side': s}, [
        h('h4', {}, labels[s]),
        sides[s] ? h('p', {}, scopeText(sides[s])) : h('p', {class: 'gd-dim'}, 'no counterpart'),
      ])))
    );
    return;
  }
  panel.replaceChildren(h('p', {class: 'gd-loading'}, `Loading ${item.name}…`));
  let info;
  try {
    info = await state.graphs.fetch('node', {side, name: item.name});
  } catch (err) {
    panel.replaceChildren(errorBox(err.message));
    return;
  }
  const rows = [['Op', (n) => n.op], ['Status', (n) => n.status], ['Inputs', (n) => inputsText(n)],
    ['Output shapes', (n) => (n.shapes ? n.shapes.join(', ') + (n.shapes_note ? ` (${n.shapes_note})` : '') : n.shapes_note || 'unknown')],
    ['Device', (n) => n.device || '(any)'], ['Weight digest', (n) => n.digest || '']];
  const keys = [...new Set(['a', 'b'].flatMap((s) => (info[s] ? Object.keys(info[s].attrs) : [])))].sort();
  for (const key of keys) rows.push([`attr ${key}`, (n) => (key in n.attrs ? n.attrs[key] : '(none)')]);
  const table = h('table', {class: 'gd-panel-table'}, [
    h('thead', {}, h('tr', {}, [h('th', {}, ''), h('th', {}, labels.a), h('th', {}, labels.b)])),
    h('tbody', {}, [
      h('tr', {}, [h('th', {}, 'Name'), ...['a', 'b'].map((s) => h('td', {}, info[s] ? info[s].name : '—'))]),
      ...rows.map(([label, get]) => {
        const values = ['a', 'b'].map((s) => (info[s] ? String(get(info[s])) : '—'));
        const differs = info.a && info.b && values[0] !== values[1] && label !== 'Status';
        return h('tr', {class: differs ? 'gd-differs' : ''}, [h('th', {}, label), ...values.map((v) => h('td', {}, v))]);
      }),
    ]),
  ]);
  const story = info.story
    ? h('p', {class: 'gd-panel-story'}, [h('strong', {}, 'Story: '), info.story.text,
      info.story.passes.length ? h('span', {class: 'gd-dim'}, ` [${info.story.passes.join(', ')}]`) : null])
    : null;
  const what = info.what.length ? h('p', {}, `Changed: ${info.what.join(', ')}`) : null;
  const drift = info.drift && (info.drift.a || info.drift.b);
  const drifted = drift
    ? h('p', {class: 'gd-panel-drift', id: 'gd-panel-drift'}, [h('strong', {}, 'Drift (verify --layers): '),
      `${drift.ratio.toPrecision(3)}× the noise floor: max |a−b| ${drift.max_abs_diff.toPrecision(3)}, ` +
      `relative ${drift.max_rel_diff.toPrecision(3)}, floor ${drift.noise_floor.toPrecision(3)}`])
    : null;
  panel.replaceChildren(...[h('h3', {}, item.name), story, what, drifted, table].filter(Boolean));
}

function inputsText(n) {
  const more = n.inputs_total > n.inputs.length ? `, … (${n.inputs_total} in all)` : '';
  return (n.inputs.join(', ') || '(none)') + more;
}

function scopeText(item) {
  const [same, removed, added, changed, renamed] = item.counts || [0, 0, 0, 0, 0];
  return `${item.nodes} nodes: ${same} same, ${removed} removed, ${added} added, ${changed} changed, ${renamed} renamed`;
}

function summary(data) {
  const d = data.diff;
  const links = ['a', 'b'].map((side) => {
    const run = d[side].label;
    const link = h(
      'a',
      {href: graphTabUrl(run), target: '_top', class: 'gd-graph-link', id: `gd-open-${side}`},
      `Open ${run} in the Graph tab`
    );
    return link;
  });
  const parts = [
    h('div', {class: 'gd-headline'}, [
      h('strong', {}, `${d.a.label} → ${d.b.label}`),
      `: ${d.totals.a.toLocaleString()} → ${d.totals.b.toLocaleString()} nodes `,
      deltaSpan(d.totals.a, d.totals.b),
      h('span', {class: 'gd-dim'}, ` · ${d.counts.only_a} only in ${d.a.label}, ${d.counts.only_b} only in ${d.b.label}, ${d.counts.changed} changed in place`),
    ]),
    h('div', {class: 'gd-links'}, [...links,
      // TensorBoard's Graph tab keeps run= in its URL but draws its first run: the person picks it there.
      h('span', {class: 'gd-dim', id: 'gd-graph-tab-note'}, 'The Graph tab opens on its first run; pick the one you want in its Run menu.')]),
  ];
  const stripped = ['a', 'b'].filter((side) => data.logged && !data.logged[side].weights_in_log);
  if (stripped.length) {
    parts.push(
      h(
        'p',
        {class: 'gd-note'},
        `Weights were left out of the log of ${stripped.map((s) => d[s].label).join(' and ')} ` +
          '(inspector’s default): changes to large constants’ values do not show. ' +
          'Write the runs with --keep-weights to see them.'
      )
    );
  }
  if (d.a.label === d.b.label) {
    parts.push(h('p', {class: 'gd-note'}, 'Both sides are the same run: pick another one to compare.'));
  }
  return h('div', {class: 'gd-summary'}, parts);
}

function opTable(d) {
  const rows = d.ops.map((r) =>
    h('tr', {class: r.delta < 0 ? 'removed' : r.delta > 0 ? 'added' : ''}, [
      h('td', {class: 'gd-op'}, r.op),
      h('td', {class: 'num'}, String(r.a)),
      h('td', {class: 'num'}, String(r.b)),
      h('td', {class: 'num'}, deltaText(r.a, r.b)),
    ])
  );
  const foot = [
    ['Total nodes', d.totals.a, d.totals.b, String, 'gd-total'],
    ['Parameters', d.a.params, d.b.params, humanCount, ''],
    ['Constants', d.a.const_bytes, d.b.const_bytes, humanBytes, ''],
  ];
  if (d.a.size_bytes != null && d.b.size_bytes != null) {
    foot.push(['Graph in log', d.a.size_bytes, d.b.size_bytes, humanBytes, '']);
  }
  return h('table', {class: 'gd-ops', id: 'gd-op-table'}, [
    h('caption', {}, 'Nodes by op type'),
    h('thead', {}, h('tr', {}, [h('th', {}, 'Op type'), h('th', {}, d.a.label), h('th', {}, d.b.label), h('th', {}, 'Change')])),
    h('tbody', {}, rows),
    h(
      'tfoot',
      {},
      foot.map(([label, x, y, fmt, cls]) =>
        h('tr', {class: cls}, [
          h('th', {}, label),
          h('td', {class: 'num'}, fmt(x)),
          h('td', {class: 'num'}, fmt(y)),
          h('td', {class: 'num'}, deltaText(x, y, fmt)),
        ])
      )
    ),
  ]);
}

function scopeList(d) {
  const items = [];
  for (const [side, list, count] of [
    ['a', d.removed_scopes, d.counts.only_a],
    ['b', d.added_scopes, d.counts.only_b],
  ]) {
    if (!list.length) continue;
    items.push(h('h3', {}, `Only in ${d[side].label}: ${count} node${count === 1 ? '' : 's'}`));
    const shown = h('ul', {class: 'gd-scopes'}, list.slice(0, SCOPES_SHOWN).map((c) => scopeItem(c, side)));
    items.push(shown);
    if (list.length > SCOPES_SHOWN) {
      const more = h('button', {type: 'button', class: 'gd-button gd-more'}, `Show ${list.length - SCOPES_SHOWN} more`);
      more.addEventListener('click', () => {
        for (const c of list.slice(SCOPES_SHOWN)) shown.appendChild(scopeItem(c, side));
        more.remove();
      });
      items.push(more);
    }
  }
  if (!items.length) items.push(h('p', {}, d.counts.changed ? 'No node was removed or added.' : 'The graphs have the same nodes.'));
  return h('div', {class: 'gd-scope-list', id: 'gd-scope-list'}, [h('h2', {}, 'What happened, by name scope'), ...items]);
}

// The stories of the diff (analysis/stories.py): alike ones grouped, each linking to its nodes in both trees.
function storyList(d, words) {
  const stories = d.stories || [];
  const s = d.summary || {};
  const items = [
    h('p', {class: 'gd-dim', id: 'gd-matched'},
      `Nodes: ${s.same || 0} same, ${s.renamed || 0} renamed, ${s.changed || 0} changed, ${s.removed || 0} removed, ` +
      `${s.added || 0} added (matched by name, then by structure)`),
  ];
  const byKind = new Map();
  stories.forEach((story, index) => {
    if (!byKind.has(story.kind)) byKind.set(story.kind, []);
    byKind.get(story.kind).push({...story, index});
  });
  for (const [kind, group] of byKind) {
    group.sort((x, y) => naturalCompare(x.scope, y.scope));
    if (group.length === 1) {
      items.push(h('ul', {class: 'gd-stories'}, [storyItem(group[0])]));
      continue;
    }
    const removed = group.reduce((n, st) => n + st.nodes_before, 0);
    const added = group.reduce((n, st) => n + st.nodes_after, 0);
    const details = h('details', {class: 'gd-story-group', 'data-kind': kind}, [
      h('summary', {}, [h('strong', {}, `${group.length} ${words[kind] || kind}`),
        h('span', {class: 'gd-dim'}, ` (${group[0].scope.split('/').pop()} … ${group[group.length - 1].scope.split('/').pop()}): ` +
          `−${removed} +${added} nodes`)]),
      h('ul', {class: 'gd-stories'}, group.map(storyItem)),
    ]);
    items.push(details);
  }
  if (!stories.length) items.push(h('p', {}, s.renamed ? 'The graphs compute the same thing under other names.' : 'Nothing was removed or added.'));
  return h('div', {class: 'gd-story-list', id: 'gd-story-list'}, [h('h2', {}, 'What changed'), ...items]);
}

function storyItem(story) {
  const passes = story.passes && story.passes.length ? ` [${story.passes.join(', ')}]` : '';
  const parts = [story.text, h('span', {class: 'gd-dim'}, `: −${story.nodes_before} +${story.nodes_after} nodes${passes}`)];
  const show = h('a', {href: '#', class: 'gd-story-show', 'data-story': story.index, title: 'Light up its nodes in both graphs'}, ' show');
  show.addEventListener('click', (event) => {
    event.preventDefault();
    showStory(story.index);
  });
  parts.push(show);
  return h('li', {class: `gd-story ${story.kind}`, 'data-kind': story.kind}, parts);
}

// Nodes changed in place, with their op, inputs and attributes before and after.
function changedList(d) {
  const nodes = d.changed_nodes || [];
  if (!nodes.length) return h('div', {class: 'gd-changed-list', id: 'gd-changed-list'});
  const rows = nodes.map((c) => {
    const link = h('a', {href: '#', 'data-node': c.name}, c.name);
    link.addEventListener('click', (event) => {
      event.preventDefault();
      showName('b', c.name);
    });
    const op = c.op_before === c.op ? c.op : `${c.op_before} → ${c.op}`;
    const detail = [];
    if (c.before !== c.name) detail.push(`was ${c.before}`);
    if (c.what.includes('inputs')) detail.push(`inputs ${c.inputs_before.join(', ') || '(none)'} → ${c.inputs.join(', ') || '(none)'}`);
    if (c.attrs.length) detail.push(`attributes ${c.attrs.join(', ')}`);
    if (c.what.includes('value')) detail.push('weights');
    return h('li', {}, [link, h('span', {class: 'gd-dim'}, `: ${op}; ${detail.join('; ')}`)]);
  });
  const more = d.counts.changed > nodes.length ? ` (the first ${nodes.length})` : '';
  return h('details', {class: 'gd-changed-list', id: 'gd-changed-list'}, [
    h('summary', {}, h('strong', {}, `Changed in place: ${d.counts.changed} node${d.counts.changed === 1 ? '' : 's'}${more}`)),
    h('ul', {class: 'gd-changed'}, rows),
  ]);
}

function naturalCompare(x, y) {
  return x.localeCompare(y, undefined, {numeric: true});
}

function scopeItem(c, side) {
  const ops = opsText(c.ops);
  const noun = c.nodes === 1 ? 'node' : 'nodes';
  const kind = kindClass(c.kind);
  if (!c.scope) {
    const op = Object.keys(c.ops)[0];
    return h('li', {class: kind}, [
      `${c.nodes} single ${op} ${noun} `,
      h('span', {class: `gd-kind ${kind}`}, c.kind),
      ', one per scope ',
      h('span', {class: 'gd-dim'}, `(e.g. ${c.examples.slice(0, 2).join(', ')})`),
    ]);
  }
  const link = h('a', {href: '#', class: 'gd-scope-name', title: 'Show in the graphs'}, c.scope);
  link.addEventListener('click', (event) => {
    event.preventDefault();
    showName(side, c.scope);
  });
  return h('li', {class: kind}, [
    link,
    `: ${c.nodes} ${noun} `,
    h('span', {class: `gd-kind ${kind}`}, c.kind),
    c.changed ? `, ${c.changed} rewritten` : '',
    h('span', {class: 'gd-dim'}, ` (${ops})`),
  ]);
}

// --- helpers -----------------------------------------------------------------

async function getJSON(url) {
  const response = await fetch(url, {headers: {Accept: 'application/json'}});
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    // Not JSON: the status line says enough.
  }
  if (!response.ok) {
    throw new Error((body && body.error) || `${url}: HTTP ${response.status}`);
  }
  return body;
}

function errorBox(message) {
  return h('div', {class: 'gd-error', role: 'alert'}, message);
}

function kindClass(kind) {
  return KIND_CLASS[kind] || '';
}

function opsText(ops) {
  const entries = Object.entries(ops);
  const shown = entries.slice(0, 4).map(([op, n]) => (n > 1 ? `${op}×${n}` : op));
  if (entries.length > 4) shown.push('…');
  return shown.join(', ');
}

function deltaText(before, after, fmt = String) {
  const delta = after - before;
  if (delta === 0) return '';
  const sign = delta > 0 ? '+' : '−';
  const pct = before ? ` (${delta > 0 ? '+' : '−'}${Math.round((Math.abs(delta) / before) * 100)}%)` : '';
  return `${sign}${fmt(Math.abs(delta))}${pct}`;
}

function deltaSpan(before, after) {
  const delta = after - before;
  const text = delta ? deltaText(before, after).replace(' (', ', ').replace(/\)$/, '') : 'no change';
  return h('span', {class: delta < 0 ? 'st removed' : delta > 0 ? 'st added' : ''}, `(${text})`);
}

function humanCount(n) {
  for (const [unit, size] of [['G', 1e9], ['M', 1e6], ['k', 1e3]]) {
    if (Math.abs(n) >= size) return `${(n / size).toFixed(2)}${unit}`;
  }
  return String(n);
}

function humanBytes(n) {
  if (n == null) return '-';
  let value = n;
  for (const unit of ['B', 'KiB', 'MiB', 'GiB']) {
    if (Math.abs(value) < 1024 || unit === 'GiB') return unit === 'B' ? `${value} B` : `${value.toFixed(1)} ${unit}`;
    value /= 1024;
  }
  return `${n} B`;
}
