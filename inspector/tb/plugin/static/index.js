// The "Graph diff" tab. TensorBoard loads this ES module into an iframe whose
// <base> is this plugin's route (./runs, ./diff); it talks to nothing else.
// Plain DOM, no framework and no build step, so it ships as it is.
// Every name from a graph is data: it enters the page as a text node (h()) or
// in a data-* or title attribute, never as HTML; classes come from fixed lists.

const SAME = 0;
const REMOVED = 1;
const ADDED = 2;
const CHANGED = 3;
// Scope summaries listed before "Show N more": an Inception-sized diff has ~100.
const SCOPES_SHOWN = 12;
const STATUS_CLASS = {[SAME]: 'same', [REMOVED]: 'removed', [ADDED]: 'added', [CHANGED]: 'changed'};
const KIND_CLASS = {added: 'added', removed: 'removed'};
// A graph may nest a name tens of thousands of scopes deep. The browser lays
// out nested elements recursively (Chromium's renderer gives up near 1,000
// nested scopes), so the trees stop at MAX_DEPTH and say what is below; and
// "Expand scopes with changes" opens at most EXPAND_LIMIT scopes per click.
const MAX_DEPTH = 200;
const EXPAND_LIMIT = 5000;

const state = {runs: [], a: null, b: null, data: null, changesOnly: false};

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

function openGraphTab(run, event) {
  if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return; // a new tab: plain link
  let top;
  try {
    top = window.top;
    void top.document.body;
  } catch (err) {
    return; // not same-origin after all: let the link navigate
  }
  event.preventDefault();
  top.location.hash = `#graphs&run=${encodeURIComponent(run)}`;
  selectGraphRun(top.document, run);
}

function selectGraphRun(doc, run) {
  // TensorBoard's Graph tab reads run= from the URL but still draws its first
  // run (its run menu is not bound to it), so pick the run in that menu once
  // it has loaded, and keep it picked while the tab settles. Gives up quietly
  // after a while: the person can still pick the run by hand.
  const deadline = Date.now() + 20000;
  let stableSince = null;
  const tick = () => {
    const controls = deepFind(doc, 'tf-graph-controls');
    const datasets = controls && controls.datasets;
    const index = datasets ? datasets.findIndex((d) => d.name === run) : -1;
    if (index >= 0) {
      if (controls._selectedRunIndex !== index) {
        controls._selectedRunIndex = index;
        stableSince = null;
      } else if (stableSince === null) {
        stableSince = Date.now();
      } else if (Date.now() - stableSince > 1500) {
        return;
      }
    }
    if (Date.now() < deadline) setTimeout(tick, 150);
  };
  tick();
}

function deepFind(root, selector) {
  const found = root.querySelector(selector);
  if (found) return found;
  for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) {
      const inner = deepFind(el.shadowRoot, selector);
      if (inner) return inner;
    }
  }
  return null;
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
  const trees = data.trees;
  const left = buildTree(trees.a, trees.ops);
  const right = buildTree(trees.b, trees.ops);
  body.replaceChildren(
    summary(data),
    h('div', {class: 'gd-columns'}, [opTable(data.diff), storyList(data.diff, data.story_words || {})]),
    h('div', {class: 'gd-columns'}, [scopeList(data.diff), changedList(data.diff)]),
    treeSection(data, left, right)
  );
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
    link.addEventListener('click', (event) => openGraphTab(run, event));
    return link;
  });
  const parts = [
    h('div', {class: 'gd-headline'}, [
      h('strong', {}, `${d.a.label} → ${d.b.label}`),
      `: ${d.totals.a.toLocaleString()} → ${d.totals.b.toLocaleString()} nodes `,
      deltaSpan(d.totals.a, d.totals.b),
      h('span', {class: 'gd-dim'}, ` · ${d.counts.only_a} only in ${d.a.label}, ${d.counts.only_b} only in ${d.b.label}, ${d.counts.changed} changed in place`),
    ]),
    h('div', {class: 'gd-links'}, links),
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
  for (const story of stories) {
    if (!byKind.has(story.kind)) byKind.set(story.kind, []);
    byKind.get(story.kind).push(story);
  }
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
  const show = [['a', story.removed[0]], ['b', story.added[0] || story.changed[0]]].filter(([, name]) => name);
  for (const [side, name] of show) {
    const link = h('a', {href: '#', class: 'gd-story-node', 'data-node': name, title: `Show ${name} in the tree`},
      side === 'a' ? ' show before' : ' show after');
    link.addEventListener('click', (event) => {
      event.preventDefault();
      reveal(side, name);
    });
    parts.push(link);
  }
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
      reveal('b', c.name);
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
  const link = h('a', {href: '#', class: 'gd-scope-name', title: 'Show in the tree'}, c.scope);
  link.addEventListener('click', (event) => {
    event.preventDefault();
    reveal(side, c.scope);
  });
  return h('li', {class: kind}, [
    link,
    `: ${c.nodes} ${noun} `,
    h('span', {class: `gd-kind ${kind}`}, c.kind),
    c.changed ? `, ${c.changed} rewritten` : '',
    h('span', {class: 'gd-dim'}, ` (${ops})`),
  ]);
}

// --- the trees ---------------------------------------------------------------

function buildTree(encoded, ops) {
  // [segment, op index, status, children, what] -> objects with subtree counts.
  // Without recursion: a name may be tens of thousands of scopes deep, and the
  // stack would not be.
  const make = (node, parent) => {
    const [seg, op, st, , what = ''] = node;
    const path = parent && parent.path ? `${parent.path}/${seg}` : seg;
    const depth = parent ? parent.depth + 1 : 0;
    const out = {seg, path, depth, op: op >= 0 ? ops[op] : null, st, what, kids: [], n: 0, r: 0, a: 0, c: 0};
    if (st >= 0) {
      out.n = 1;
      if (st === REMOVED) out.r = 1;
      else if (st === ADDED) out.a = 1;
      else if (st === CHANGED) out.c = 1;
    }
    return out;
  };
  const root = make(encoded, null);
  const order = []; // [node, its parent]: every parent before its children
  const stack = [[encoded, root]];
  while (stack.length) {
    const [node, out] = stack.pop();
    for (const kid of node[3] || []) {
      const k = make(kid, out);
      out.kids.push(k);
      order.push([k, out]);
      stack.push([kid, k]);
    }
  }
  // Backwards, each subtree's counts are complete before they reach its parent.
  for (let i = order.length - 1; i >= 0; i--) {
    const [k, parent] = order[i];
    parent.n += k.n;
    parent.r += k.r;
    parent.a += k.a;
    parent.c += k.c;
  }
  return root;
}

function treeSection(data, left, right) {
  const d = data.diff;
  const scopesA = new Map(d.removed_scopes.filter((c) => c.scope).map((c) => [c.scope, c]));
  const scopesB = new Map(d.added_scopes.filter((c) => c.scope).map((c) => [c.scope, c]));
  const paneA = treePane('a', d.a.label, left, scopesA);
  const paneB = treePane('b', d.b.label, right, scopesB);
  const changesOnly = h('input', {type: 'checkbox', id: 'gd-changes-only'});
  changesOnly.checked = state.changesOnly;
  changesOnly.addEventListener('change', () => {
    state.changesOnly = changesOnly.checked;
    document.querySelector('.gd-trees').classList.toggle('changes-only', state.changesOnly);
  });
  const expand = h('button', {type: 'button', class: 'gd-button', id: 'gd-expand-changes'}, 'Expand scopes with changes');
  expand.addEventListener('click', () => {
    expandChanged(paneA);
    expandChanged(paneB);
  });
  const collapse = h('button', {type: 'button', class: 'gd-button'}, 'Collapse all');
  collapse.addEventListener('click', () => {
    for (const el of document.querySelectorAll('.gd-trees details[open]')) setOpen(el, false);
  });
  return h('section', {class: 'gd-tree-section'}, [
    h('h2', {}, 'Both graphs by name scope'),
    h('div', {class: 'gd-tree-controls'}, [
      legend(d),
      expand,
      collapse,
      h('label', {}, [changesOnly, ' only scopes with changes']),
    ]),
    h('div', {class: 'gd-trees' + (state.changesOnly ? ' changes-only' : '')}, [paneA, paneB]),
  ]);
}

function legend(d) {
  return h('div', {class: 'gd-legend', id: 'gd-legend'}, [
    h('span', {class: 'st removed'}, `removed (only in ${d.a.label})`),
    h('span', {class: 'st added'}, `added (only in ${d.b.label})`),
    h('span', {class: 'st changed'}, 'changed in place'),
    h('span', {class: 'st same'}, 'same'),
  ]);
}

function treePane(side, label, root, scopes) {
  const pane = h('div', {class: 'gd-tree', id: `gd-tree-${side}`, 'data-side': side}, [
    h('h3', {}, `${label}: ${root.n.toLocaleString()} nodes`),
  ]);
  pane._scopes = scopes;
  const list = h('div', {class: 'gd-kids'});
  for (const kid of root.kids) list.appendChild(treeRow(kid, pane));
  pane.appendChild(list);
  return pane;
}

function treeRow(node, pane) {
  const changes = node.r + node.a + node.c;
  const label = [h('span', {class: `gd-name st ${STATUS_CLASS[node.st] || 'scope'}`}, node.seg)];
  if (node.op) label.push(h('span', {class: 'gd-optype'}, node.op));
  if (node.st === CHANGED && node.what) label.push(h('span', {class: 'gd-what'}, whatText(node.what)));
  if (!node.kids.length) {
    const leaf = h('div', {class: `gd-leaf ${changes ? 'has-changes' : 'no-changes'}`, 'data-path': node.path, title: node.path}, label);
    return leaf;
  }
  label.push(countsSpan(node));
  const change = pane._scopes.get(node.path);
  if (change) {
    label.push(
      h('span', {class: `gd-kind ${kindClass(change.kind)}`, title: opsText(change.ops)},
        `${change.kind}: ${change.nodes} node${change.nodes === 1 ? '' : 's'}` + (change.changed ? `, ${change.changed} rewritten` : ''))
    );
  }
  const details = h('details', {class: changes ? 'has-changes' : 'no-changes', 'data-path': node.path}, [
    h('summary', {title: node.path}, label),
  ]);
  details._node = node;
  details.addEventListener('toggle', () => {
    if (details.open) fill(details, pane);
    if (details._quiet) {
      details._quiet = false; // the page opened it (on both sides already): nothing to mirror
      return;
    }
    mirror(pane, node.path, details.open);
  });
  return details;
}

function setOpen(details, open) {
  // Opened or closed by the page, not the person: its toggle event is not
  // mirrored, so expanding thousands of nested scopes costs each one once.
  if (details.open === open) return;
  details._quiet = true;
  details.open = open;
}

function fill(details, pane) {
  // Children are built on first open: a 2,000-node graph stays instant.
  if (details._filled) return;
  details._filled = true;
  const node = details._node;
  const list = h('div', {class: 'gd-kids'});
  if (node.depth >= MAX_DEPTH) {
    list.appendChild(deeperRow(node));
  } else {
    for (const kid of node.kids) list.appendChild(treeRow(kid, pane));
  }
  details.appendChild(list);
}

function deeperRow(node) {
  // In place of the scopes below MAX_DEPTH: their counts, and where to see them all.
  let nodes = 0;
  for (const kid of node.kids) nodes += kid.n;
  const changes = node.r + node.a + node.c;
  return h('div', {class: `gd-leaf gd-deeper gd-dim ${changes ? 'has-changes' : 'no-changes'}`}, [
    `… ${nodes.toLocaleString()} node${nodes === 1 ? '' : 's'} more than ${MAX_DEPTH} scopes deep, not drawn here `,
    countsSpan(node),
    ' (inspector diff --json lists every node)',
  ]);
}

let mirroring = false;
function mirror(pane, path, open) {
  // Opening a scope on one side opens the same scope on the other.
  if (mirroring) return;
  const other = document.querySelector(`.gd-tree[data-side="${pane.dataset.side === 'a' ? 'b' : 'a'}"]`);
  if (!other) return;
  mirroring = true;
  try {
    const target = findRow(other, path, open);
    if (target && target.tagName === 'DETAILS' && target.open !== open) {
      setOpen(target, open);
      if (open) fill(target, other);
    }
  } finally {
    // The toggle event fires asynchronously; release after it has run.
    setTimeout(() => (mirroring = false), 0);
  }
}

function findRow(pane, path, create, nearest = false) {
  // Opens the ancestors of `path` (when `create`) so its row exists, and returns it;
  // with `nearest`, the deepest row there is on the way (a path below MAX_DEPTH has none).
  const parts = path.split('/');
  let container = pane;
  let row = null;
  let prefix = '';
  for (let i = 0; i < parts.length; i++) {
    prefix = i ? `${prefix}/${parts[i]}` : parts[0];
    const found = Array.from(container.querySelectorAll(':scope > .gd-kids > [data-path]')).find((el) => el.dataset.path === prefix);
    if (!found) return nearest ? row : null;
    row = found;
    if (i < parts.length - 1) {
      if (row.tagName !== 'DETAILS') return null;
      if (!row._filled) {
        if (!create) return null;
        fill(row, pane);
      }
      if (create) setOpen(row, true);
      container = row;
    }
  }
  return row;
}

function reveal(side, path) {
  const pane = document.getElementById(`gd-tree-${side}`);
  const row = findRow(pane, path, true, true);
  if (!row) return;
  if (row.tagName === 'DETAILS') {
    row.open = true;
    fill(row, pane);
  }
  row.scrollIntoView({block: 'center'});
  row.classList.add('gd-flash');
  setTimeout(() => row.classList.remove('gd-flash'), 1500);
}

function expandChanged(pane) {
  // A stack, not recursion, for scopes nested deeper than the call stack goes.
  const stack = [pane];
  let opened = 0;
  mirroring = true;
  try {
    while (stack.length && opened < EXPAND_LIMIT) {
      const container = stack.pop();
      for (const el of container.querySelectorAll(':scope > .gd-kids > details.has-changes')) {
        if (opened++ >= EXPAND_LIMIT) break;
        setOpen(el, true);
        fill(el, pane);
        stack.push(el);
      }
    }
  } finally {
    setTimeout(() => (mirroring = false), 0);
  }
}

function countsSpan(node) {
  const parts = [h('span', {class: 'gd-n'}, `${node.n}`)];
  if (node.r) parts.push(h('span', {class: 'st removed'}, `−${node.r}`));
  if (node.a) parts.push(h('span', {class: 'st added'}, `+${node.a}`));
  if (node.c) parts.push(h('span', {class: 'st changed'}, `~${node.c}`));
  return h('span', {class: 'gd-counts'}, parts);
}

function whatText(codes) {
  const names = state.data.what_codes;
  return 'changed: ' + Array.from(codes).map((c) => names[c] || c).join(', ');
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

function h(tag, attrs, children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  const add = (child) => {
    if (child == null || child === '') return;
    el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  };
  if (Array.isArray(children)) children.forEach(add);
  else add(children);
  return el;
}
