import { api, el, header, loss, when } from './header.js';

const main = document.getElementById('report');

async function render() {
  const since = new URLSearchParams(location.search).get('since');
  const report = await api('/api/service/report' + (since ? `?since=${encodeURIComponent(since)}` : ''));
  const interventions = report.runs.reduce((sum, run) => sum + run.interventions.length, 0);
  main.replaceChildren(
    el('section', {},
      el('h2', {}, `From ${when(report.from)} to ${when(report.to)}`),
      el('p', { id: 'totals' }, `${report.runs.length} runs; ${interventions} interventions; ${report.waiting} proposals wait for review.`),
      el('table', { id: 'report-runs' },
        el('thead', {}, el('tr', {}, ...['run', 'kind', 'outcome', 'steps', 'val loss start → final', 'best (step)', 'interventions', 'waiting']
          .map(h => el('th', {}, h)))),
        el('tbody', {}, report.runs.map(run => el('tr', { 'data-run': run.name },
          el('td', {}, run.name), el('td', {}, run.kind), el('td', { class: `state-${run.state}` }, run.state), el('td', {}, String(run.steps)),
          el('td', {}, `${loss(run.start_val_loss)} → ${loss(run.final_val_loss)}`),
          el('td', {}, `${loss(run.best_val_loss)} (${run.best_step ?? '–'})`),
          el('td', {}, String(run.interventions.length)), el('td', {}, String(run.waiting.length))))))),
    ...report.runs.map(run => el('section', { class: 'report-run', 'data-run': run.name },
      el('h2', {}, `${run.name} — ${run.state}`),
      run.message ? el('p', {}, run.message) : '',
      run.handed_back ? el('p', { class: 'handed-back' }, `Hands back ${run.handed_back.description}.`) : '',
      run.final_val_loss !== null && run.final_val_loss !== undefined
        ? el('img', { src: `/api/service/runs/${encodeURIComponent(run.name)}/chart.png`, alt: `${run.name} validation loss` }) : '',
      el('ul', {}, run.interventions.length ? run.interventions.map(i => el('li', { class: 'intervention' },
        `step ${i.step}: ${i.command} ${i.approved_by ? `approved by ${i.approved_by}` : `by the ${i.source}`}`
        + (i.loss_before != null ? `; train loss ${loss(i.loss_before)} → ${loss(i.loss_after)}` : '') + ` — ${i.reason}`))
        : el('li', { class: 'empty' }, 'No interventions.'),
        run.waiting.map(w => el('li', { class: 'waiting' }, `waiting: ${w.action} at step ${w.step} — ${w.reason}`))))));
}

header();
render();
