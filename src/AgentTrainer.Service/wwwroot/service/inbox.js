import { api, el, header, when } from './header.js';

const main = document.getElementById('inbox');
const results = new Map(); // proposal → what came of the last click, kept across refreshes

function result(item) {
  const shown = results.get(`${item.run}/${item.proposal_id}`);
  return el('p', { class: shown?.error ? 'result error' : 'result' }, shown?.text ?? '');
}

function card(item) {
  const comment = el('textarea', { rows: 2, placeholder: 'comment (optional)', 'aria-label': 'comment' });
  const key = `${item.run}/${item.proposal_id}`;
  const decide = verb => async () => {
    try {
      const decided = await api(`/api/service/inbox/${encodeURIComponent(item.run)}/${encodeURIComponent(item.proposal_id)}/${verb}`,
        { method: 'POST', body: { comment: comment.value || null } });
      results.set(key, { text: `${decided.status} by ${decided.reviewer}` });
    } catch (error) {
      results.set(key, { text: error.message, error: true });
    }
    await render();
  };
  // A superseded proposal is not withdrawn: approved, it is judged again like any, and applied if still valid.
  const decidable = item.status === 'awaiting_review' || item.status === 'superseded';
  return el('article', { class: 'review item', 'data-run': item.run, 'data-proposal': item.proposal_id, 'data-status': item.status },
    el('span', { class: 'status' }, item.status),
    el('div', { class: 'what' }, `${item.run}: ${item.action} at step ${item.step}`),
    el('div', { class: 'meta' }, `rule ${item.rule} · until ${when(item.expires_at)}`
      + (item.reviewer ? ` · decided by ${item.reviewer}${item.comment ? `: ${item.comment}` : ''}` : '')
      + (item.outcome ? ` · ${item.outcome}` : '')),
    el('p', {}, item.reason),
    el('details', {}, el('summary', {}, 'what the agent saw'), el('pre', {}, item.summary)),
    decidable ? [comment, el('div', { class: 'row' },
      el('button', { class: 'approve', onclick: decide('approve') }, 'approve'),
      el('button', { class: 'reject danger', onclick: decide('reject') }, 'reject'))] : [],
    result(item));
}

async function render() {
  const items = await api('/api/service/inbox');
  const waiting = items.filter(item => item.status === 'awaiting_review');
  main.replaceChildren(
    el('section', {}, el('h2', {}, 'Waiting ', el('span', { class: 'count' }, String(waiting.length))),
      waiting.length ? waiting.map(card) : el('p', { class: 'empty' }, 'Nothing waits for a decision.')),
    el('section', {}, el('h2', {}, 'Decided'), items.filter(item => item.status !== 'awaiting_review').map(card)));
}

header();
render();
setInterval(() => { if (!document.activeElement || document.activeElement.tagName !== 'TEXTAREA') render(); }, 5000);
