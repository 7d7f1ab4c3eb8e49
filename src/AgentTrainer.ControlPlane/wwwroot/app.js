// AgentTrainer dashboard: reads the API, follows the live stream, and acts with the bearer token.
"use strict";

const TOKEN_KEY = "agentTrainer.token";
const REVIEWER_KEY = "agentTrainer.reviewer";
const BRANCH_COLOURS = ["#2c7be5", "#e67e22", "#16a085", "#8e44ad", "#c0392b", "#7f8c8d", "#d4ac0d", "#2e4053"];
const SOURCE_LETTERS = { agent: "A", human: "H", api: "P", guard: "G", fault: "F", explore: "E", data: "D" };
const SOURCE_COLOURS = {
  agent: "#8e44ad", human: "#27ae60", api: "#2980b9", guard: "#d35400", fault: "#c0392b", explore: "#16a085", data: "#7f8c8d",
};

const $ = (id) => document.getElementById(id);
const state = {
  train: new Map(),        // branch -> Map(step -> {loss, lr, grad_norm})
  val: new Map(),          // branch -> Map(step -> val_loss)
  markers: [],             // {step, source, label}
  seenCommands: new Set(),
  drafts: new Map(),       // proposal id -> the comment a reviewer is typing (the list is redrawn under them)
  run: null,
  auditOldest: null,
  dirty: true,
};

// ---- token: from the URL fragment (#token=...) once, then kept in this browser ----
(function takeTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
})();
const token = () => localStorage.getItem(TOKEN_KEY);

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token()) headers.Authorization = "Bearer " + token();
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error((data && (data.detail || data.title)) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---- charts (uPlot), one series per branch; interventions drawn as marked vertical lines ----
function makeChart(id, log) {
  const element = $(id);
  const chart = new uPlot({
    width: Math.max(260, element.clientWidth - 8), height: 190,
    scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
    series: [{ label: "step" }],
    axes: [{}, { size: 60 }],
    legend: { show: true },
    hooks: { draw: [drawMarkers] },
  }, [[]], element);
  return { element, chart, branches: 0 };
}

function drawMarkers(u) {
  const ctx = u.ctx;
  const { top, height } = u.bbox;
  ctx.save();
  ctx.font = `${10 * devicePixelRatio}px sans-serif`;
  for (const marker of state.markers) {
    const x = Math.round(u.valToPos(marker.step, "x", true));
    if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
    ctx.strokeStyle = ctx.fillStyle = SOURCE_COLOURS[marker.source] || "#555";
    ctx.setLineDash([4, 3]);
    ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
    ctx.fillText(SOURCE_LETTERS[marker.source] || "?", x + 2, top + 10 * devicePixelRatio);
  }
  ctx.restore();
}

const charts = {
  loss: makeChart("chart-loss", false),
  val: makeChart("chart-val", false),
  lr: makeChart("chart-lr", true),
  grad: makeChart("chart-grad", true),
};

function seriesData(byBranch, pick) {
  const branches = [...byBranch.keys()].sort((a, b) => a - b);
  const steps = new Set();
  for (const points of byBranch.values()) for (const step of points.keys()) steps.add(step);
  const xs = [...steps].sort((a, b) => a - b);
  const columns = branches.map((branch) => {
    const points = byBranch.get(branch);
    return xs.map((x) => (points.has(x) ? pick(points.get(x)) : null));
  });
  return { branches, data: [xs, ...columns], points: xs.length };
}

function redraw(view, byBranch, pick) {
  const { branches, data, points } = seriesData(byBranch, pick);
  while (view.branches < branches.length) {
    const branch = branches[view.branches];
    view.chart.addSeries({ label: `branch ${branch}`, stroke: BRANCH_COLOURS[branch % BRANCH_COLOURS.length], width: 1.2, spanGaps: false });
    view.branches++;
  }
  view.chart.setData(data);
  view.element.dataset.points = String(points);
}

function render() {
  if (state.dirty) {
    state.dirty = false;
    redraw(charts.loss, state.train, (p) => finite(p.loss));
    redraw(charts.val, state.val, (v) => finite(v));
    redraw(charts.lr, state.train, (p) => p.lr);
    redraw(charts.grad, state.train, (p) => finite(p.grad_norm));
  }
  requestAnimationFrame(render);
}
const finite = (value) => (typeof value === "number" && Number.isFinite(value) ? value : null);

function addStep(point) {
  if (!state.train.has(point.branch)) state.train.set(point.branch, new Map());
  state.train.get(point.branch).set(point.step, point);
  state.dirty = true;
}

function addEval(point) {
  if (!state.val.has(point.branch)) state.val.set(point.branch, new Map());
  state.val.get(point.branch).set(point.step, point.val_loss);
  state.dirty = true;
}

function addEvent(event) {
  if (event.type === "command" && event.status === "succeeded" && !state.seenCommands.has(event.id)) {
    state.seenCommands.add(event.id);
    if (["update_optimizer", "load_checkpoint", "model_layer_operation", "skip_data"].includes(event.kind)) {
      addMarker(event.step, event.source, `${event.id} ${event.kind} (${event.source}): ${event.reason || ""}`);
    }
  } else if (event.type === "fault_injected") {
    addMarker(event.step, "fault", `fault ${event.kind}: ${event.description}`);
  } else if (event.type === "exploration_finished") {
    const tried = event.candidates.map((c) => `x${c.learning_rate_factor} ${c.val_loss.toFixed(4)}`).join(", ");
    addMarker(event.step, "explore", `explored from step ${event.fork_step} (${tried}): branch ${event.chosen_branch}, ${event.reason}`);
  } else if (event.type === "branch_choice_awaited") {
    const tried = event.candidates.map((c) => `branch ${c.branch}: x${c.learning_rate_factor} ${c.val_loss.toFixed(4)}`);
    addMarker(event.step, "explore", `waits for your pick (${tried.join(", ")}; suggested ${event.suggested_branch}): `
      + "agent-trainer command choose-branch N");
  } else if (event.type === "dataset_updated") {
    const mixture = event.mixture.sources.map((s) => `${s.name} ${s.weight}`).join(", ");
    addMarker(event.step, "data", `data: ${event.change} (mixture: ${mixture})`);
  } else if (event.type === "proposal" || event.type === "review") {
    loadReviews();
  } else if (event.type === "checkpoint_saved" || event.type === "branch_created") {
    loadCheckpoints();
  }
}

function addMarker(step, source, label) {
  state.markers.push({ step, source, label });
  const item = document.createElement("li");
  item.className = "src-" + source;
  item.dataset.source = source;
  item.textContent = `step ${step}: ${label}`;
  $("interventions").prepend(item);
  state.dirty = true;
}

// ---- the live stream: Server-Sent Events read with fetch, so the token can travel in a header ----
async function follow() {
  for (;;) {
    try {
      const headers = token() ? { Authorization: "Bearer " + token() } : {};
      const response = await fetch("/api/stream", { headers });
      if (!response.ok) throw new Error(response.statusText);
      $("state-live").textContent = "on";
      await loadHistory(); // after subscribing, so nothing falls between history and stream
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) {
      console.warn("stream:", error);
    }
    $("state-live").textContent = "reconnecting";
    await new Promise((resolve) => setTimeout(resolve, 1000)); // dropped (too slow) or the host went away
  }
}

function dispatch(frame) {
  let type = "message", data = "";
  for (const line of frame.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (!data) return;
  const payload = JSON.parse(data);
  if (type === "step") addStep(payload);
  else if (type === "eval") addEval(payload);
  else if (type === "event") addEvent(payload);
}

async function loadHistory() {
  const metrics = await api("/api/metrics?max_points=5000");
  metrics.train.forEach(addStep);
  metrics.eval.forEach(addEval);
  const events = await api("/api/events?limit=5000");
  events.forEach(addEvent);
}

// ---- run state ----
async function refreshState() {
  try {
    const run = await api("/api/run");
    state.run = run;
    $("state-status").textContent = run.status;
    $("state-task").textContent = run.task;
    $("state-step").textContent = `${run.step} / ${run.total_steps}`;
    $("state-branch").textContent = run.branch;
    $("state-lr").textContent = run.learning_rate.toExponential(3);
    $("state-budget").textContent = describeBudget(run.budget);
    $("state-agent").textContent = run.policy ? `${run.agent} · ${run.policy}` : run.agent;
    fillSelect($("cmd-layer"), run.layers);
  } catch (error) {
    $("state-status").textContent = error.status === 503 ? "starting" : "unreachable";
  }
}

// Steps trained in all (rolled-back ones count) against the most allowed, and the deadline if any.
function describeBudget(budget) {
  const deadline = budget.deadline ? `, done by ${new Date(budget.deadline).toLocaleString()}` : "";
  return `${budget.trained_steps} / ${budget.max_trained_steps} trained, ${budget.steps_left} left${deadline}`;
}

async function loadCheckpoints() {
  try {
    const checkpoints = await api("/api/checkpoints");
    fillSelect($("cmd-checkpoint"), checkpoints.map((c) => c.id).reverse());
  } catch { /* shown by the state line */ }
}

function fillSelect(select, values) {
  const current = select.value;
  if ([...select.options].map((o) => o.value).join() === values.join()) return;
  select.replaceChildren(...values.map((value) => new Option(value, value)));
  if (values.includes(current)) select.value = current;
}

// ---- review queue ----
async function loadReviews() {
  let items;
  try { items = await api("/api/reviews"); } catch { return; }
  const waiting = items.filter((item) => item.status === "awaiting_review");
  $("review-count").textContent = String(waiting.length);
  const list = $("review-list");
  // What waits first, then what the agent's next idea superseded (a person may still approve it), then the
  // latest few decided (with why); newest first in each.
  const superseded = items.filter((item) => item.status === "superseded");
  const decided = items.filter((item) => !decidable(item)).slice(-5);
  const newestFirst = (some) => some.slice().reverse();
  const shown = [...newestFirst(waiting), ...newestFirst(superseded), ...newestFirst(decided)];
  if (shown.length === 0) {
    list.innerHTML = '<p class="empty">Nothing awaits review.</p>';
    return;
  }
  // Every proposal redraws the list: a comment being typed, and its focus, survive it.
  const typing = document.activeElement?.closest?.("article.review")?.dataset.reviewId;
  list.replaceChildren(...shown.map(reviewCard));
  if (typing) list.querySelector(`article.review[data-review-id="${CSS.escape(typing)}"] input.comment`)?.focus();
}

// A superseded proposal is not withdrawn: approved, it is judged again like any, and applied if still valid.
const decidable = (item) => item.status === "awaiting_review" || item.status === "superseded";

function reviewCard(item) {
  const card = document.createElement("article");
  card.className = "review";
  card.dataset.reviewId = item.proposal_id;
  card.dataset.status = item.status;
  const target = item.checkpoint_id || item.layer || "";
  card.innerHTML = `
    <span class="status"></span>
    <div class="what"></div>
    <div class="reason"></div>
    <div class="rule"></div>
    <details><summary>What the agent saw</summary><pre></pre></details>`;
  card.querySelector(".status").textContent = item.status + (item.reviewer ? ` by ${item.reviewer}` : "") + (item.comment ? `: ${item.comment}` : "")
    + (item.outcome ? ` (${item.outcome})` : "");
  card.querySelector(".what").textContent = `${item.proposal_id}: ${item.action}${target ? " " + target : ""} (step ${item.step}, branch ${item.branch})`;
  card.querySelector(".reason").textContent = "Reason: " + item.reason;
  card.querySelector(".rule").textContent = "Sent to review by: " + item.rule;
  card.querySelector("pre").textContent = item.summary;
  if (decidable(item)) {
    const row = document.createElement("div");
    row.className = "row";
    const comment = Object.assign(document.createElement("input"),
      { placeholder: "comment", size: 24, className: "comment", value: state.drafts.get(item.proposal_id) || "" });
    comment.oninput = () => state.drafts.set(item.proposal_id, comment.value);
    const approve = Object.assign(document.createElement("button"), { textContent: "Approve", className: "approve" });
    const reject = Object.assign(document.createElement("button"), { textContent: "Reject", className: "reject" });
    approve.onclick = () => decide(item.proposal_id, "approve", comment.value);
    reject.onclick = () => decide(item.proposal_id, "reject", comment.value);
    row.append(comment, approve, reject);
    card.append(row);
  }
  return card;
}

async function decide(id, verdict, comment) {
  const reviewer = $("reviewer").value.trim();
  if (!reviewer) return report("Enter your name as reviewer first.", true);
  localStorage.setItem(REVIEWER_KEY, reviewer);
  try {
    await api(`/api/reviews/${encodeURIComponent(id)}/${verdict}`, { method: "POST", body: { reviewer, comment: comment || null } });
    state.drafts.delete(id);
    report(`${id} ${verdict === "approve" ? "approved" : "rejected"}.`);
  } catch (error) {
    report(`${id}: ${error.message}`, true);
  }
  loadReviews();
}

// ---- commands ----
const COMMANDS = {
  "set-lr": () => ({ kind: "update_optimizer", learning_rate: Number($("cmd-lr").value) }),
  pause: () => ({ kind: "pause" }),
  resume: () => ({ kind: "resume" }),
  save: () => ({ kind: "save_checkpoint", to_disk: true }),
  evaluate: () => ({ kind: "evaluate" }),
  stop: () => ({ kind: "stop" }),
  rollback: () => ({ kind: "load_checkpoint", checkpoint_id: $("cmd-checkpoint").value }),
  "reset-layer": () => ({ kind: "model_layer_operation", layer: $("cmd-layer").value, operation: "reset_parameters" }),
};

async function send(name) {
  if (name === "stop" && !confirm("Stop the run? It writes a checkpoint and ends.")) return;
  try {
    const command = await api("/api/commands?source=human", { method: "POST", body: COMMANDS[name]() });
    report(`${command.id} ${command.kind}: ${command.status}`);
    const done = await waitFor(command.id);
    report(`${done.id} ${done.kind}: ${done.status}${done.reason ? " — " + done.reason : ""}`, done.status !== "succeeded");
  } catch (error) {
    report(error.message, true);
  }
}

async function waitFor(id) {
  for (let i = 0; i < 100; i++) {
    const command = await api(`/api/commands/${encodeURIComponent(id)}`);
    if (["succeeded", "failed", "cancelled"].includes(command.status)) return command;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return api(`/api/commands/${encodeURIComponent(id)}`);
}

function report(text, isError = false) {
  const line = $("command-result");
  line.textContent = text;
  line.classList.toggle("error", isError);
}

// ---- audit log ----
async function searchAudit(older) {
  const params = new URLSearchParams({ limit: "50" });
  if ($("audit-query").value) params.set("q", $("audit-query").value);
  if ($("audit-type").value) params.set("type", $("audit-type").value);
  if (older && state.auditOldest) params.set("before_id", String(state.auditOldest));
  let entries;
  try { entries = await api("/api/audit?" + params); } catch (error) { return report(error.message, true); }
  const rows = entries.map((entry) => {
    const row = document.createElement("tr");
    for (const value of [entry.id, entry.time.slice(11, 19), entry.type, entry.step, entry.branch, describe(entry.event)]) {
      const cell = document.createElement("td");
      cell.textContent = String(value);
      row.append(cell);
    }
    return row;
  });
  if (older) $("audit-rows").append(...rows); else $("audit-rows").replaceChildren(...rows);
  state.auditOldest = entries.length ? entries[entries.length - 1].id : state.auditOldest;
  $("audit-older").hidden = entries.length < 50;
}

function describe(event) {
  switch (event.type) {
    case "command": return `${event.id} ${event.kind} ${event.status} (${event.source})${event.reason ? ": " + event.reason : ""}`;
    case "proposal": return `${event.proposal_id} ${event.action} → ${event.verdict} [${event.rule}]: ${event.reason}`;
    case "review": return `${event.proposal_id} ${event.status}${event.reviewer ? " by " + event.reviewer : ""}${event.outcome ? ": " + event.outcome : ""}`;
    case "agent_decision": return `${event.decision_id} (${event.trigger}) ${event.provider}`;
    case "best_model_restored":
      return `best model handed back: ${event.checkpoint_id}, val loss ${event.val_loss.toFixed(4)} (last state ${event.last_val_loss.toFixed(4)})`;
    default: return JSON.stringify(event).slice(0, 160);
  }
}

// ---- start ----
function start() {
  $("reviewer").value = localStorage.getItem(REVIEWER_KEY) || "";
  $("token-form").hidden = Boolean(token());
  $("token-form").onsubmit = (event) => {
    event.preventDefault();
    localStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-form").hidden = true;
  };
  document.querySelectorAll("button[data-command]").forEach((button) => (button.onclick = () => send(button.dataset.command)));
  for (const type of ["command", "proposal", "review", "agent_decision", "intervention_effect", "checkpoint_saved", "branch_created",
    "fault_injected", "non_finite_loss", "batch_skipped", "exploration_finished", "branch_choice_awaited",
    "dataset_updated", "run_started", "run_finished"]) {
    $("audit-type").append(new Option(type, type));
  }
  $("audit-form").onsubmit = (event) => { event.preventDefault(); searchAudit(false); };
  $("audit-older").onclick = () => searchAudit(true);
  refreshState();
  loadCheckpoints();
  loadReviews();
  searchAudit(false);
  setInterval(refreshState, 1000);
  setInterval(loadReviews, 3000);
  follow();
  requestAnimationFrame(render);
}
start();
