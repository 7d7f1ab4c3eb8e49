import { api, el, header, when } from './header.js';

const main = document.getElementById('index');

async function render() {
  const runs = await api('/api/service/runs');
  const rows = runs.map(run => el('tr', { 'data-run': run.name, 'data-state': run.state },
    el('td', {}, run.name), el('td', {}, run.kind), el('td', { class: `state-${run.state}` }, run.state),
    el('td', {}, when(run.started_at)), el('td', {}, when(run.finished_at)), el('td', {}, run.submitted_by ?? ''),
    el('td', { class: 'handed-back' }, run.handed_back?.description ?? ''),
    el('td', {}, run.message ?? ''),
    el('td', {}, ['running', 'starting', 'queued'].includes(run.state)
      ? el('button', { class: 'danger', onclick: () => act(run.name, 'stop') }, 'stop')
      : ['lost', 'failed', 'interrupted'].includes(run.state) && run.submitted_by
        ? el('button', { onclick: () => act(run.name, 'restart') }, 'restart') : '')));
  main.replaceChildren(el('section', {},
    el('h2', {}, `${runs.length} runs`),
    el('p', { id: 'message' }),
    el('table', { id: 'runs' },
      el('thead', {}, el('tr', {}, ...['run', 'kind', 'state', 'started', 'finished', 'by', 'hands back', 'message', '']
        .map(h => el('th', {}, h)))),
      el('tbody', {}, rows))));
}

async function act(name, verb) {
  try {
    await api(`/api/service/runs/${encodeURIComponent(name)}/${verb}`, { method: 'POST' });
    await render();
  } catch (error) {
    const message = document.getElementById('message');
    message.className = 'error';
    message.textContent = error.message;
  }
}

header();
render();
setInterval(render, 5000);
