// The Graph diff tab's toolbar: the search box, which finds a node in either
// graph and shows it in both panes, and the legend of the statuses.
// Names from a graph enter the page as text or attribute values only.

import {DRIFT_BANDS, GLYPH, STATUSES, h} from './panes.js';

export function searchBox(graphs) {
  const input = h('input', {type: 'search', id: 'gd-search', placeholder: 'Find a node by name or op', 'aria-label': 'Find a node by name or op'});
  const list = h('ul', {class: 'gd-found', id: 'gd-found'});
  let asked = 0;
  const ask = async () => {
    const query = input.value.trim();
    const mine = ++asked;
    if (!query) {
      list.replaceChildren();
      return null;
    }
    const data = await graphs.fetch('search', {q: query});
    if (mine !== asked) return null;
    list.replaceChildren(...data.found.slice(0, 12).map((hit) => {
      const li = h('li', {'data-node': hit.name, 'data-side': hit.side, 'data-status': hit.status}, [
        h('span', {class: `gd-side gd-side-${hit.side}`}, hit.side === 'a' ? 'before' : 'after'),
        ` ${GLYPH[hit.status]}${hit.name} `,
        h('span', {class: 'gd-dim'}, hit.op),
      ]);
      li.addEventListener('click', () => {
        list.replaceChildren();
        graphs.reveal(hit.side, hit.path, hit.peer);
      });
      return li;
    }));
    if (!data.found.length) list.replaceChildren(h('li', {class: 'gd-dim'}, `No node’s name or op contains “${query}”`));
    return data.found;
  };
  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(ask, 150);
  });
  input.addEventListener('keydown', async (event) => {
    if (event.key !== 'Enter') return;
    clearTimeout(timer);
    const found = await ask();
    if (found && found.length) {
      list.replaceChildren();
      graphs.reveal(found[0].side, found[0].path, found[0].peer);
    }
  });
  return h('div', {class: 'gd-search'}, [input, list]);
}

export function legend() {
  const words = {same: 'same', removed: 'removed (before only)', added: 'added (after only)',
    changed: 'changed in place, or a scope with changes inside', renamed: 'renamed, nothing else'};
  return h('div', {class: 'gd-legend', id: 'gd-legend'}, STATUSES.map((s) =>
    h('span', {class: 'gd-key', 'data-status': s}, [h('span', {class: 'gd-swatch', 'data-status': s}, GLYPH[s].trim() || '='), ' ', words[s]])
  ));
}

// Shown when verify --layers --logdir recorded a drift for this pair's first run: colour by status or by drift.
export function driftControls(graphs, found, labels) {
  const select = h('select', {id: 'gd-colour-by', 'aria-label': 'Colour the nodes by'}, [
    h('option', {value: 'status'}, 'status'),
    h('option', {value: 'drift'}, 'drift (verify --layers)'),
  ]);
  const scale = h('div', {class: 'gd-legend gd-drift-legend', id: 'gd-drift-legend', hidden: ''}, [
    ...DRIFT_BANDS.map((band, i) => h('span', {class: 'gd-key'}, [h('span', {class: 'gd-swatch', 'data-drift': String(i)}, i ? '' : '≤1'), ' ', band])),
    h('span', {class: 'gd-dim'}, `: ${labels.a} against ${found.b || 'b'} on ${found.inputs.length} inputs` +
      (found.first_out ? `; out of the noise from ${found.first_out}` : '; every layer within the noise')),
  ]);
  select.addEventListener('change', () => {
    graphs.colourBy(select.value);
    scale.hidden = select.value !== 'drift';
  });
  return h('label', {class: 'gd-colour-by'}, ['Colour by ', select, scale]);
}
