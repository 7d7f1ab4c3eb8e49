"""Put a plain PyTorch training loop under AgentTrainer's agent: the trainer protocol's client.

One module, the standard library and torch. Register once, call ``run.step(...)`` once per optimizer step; commands
from the agent, the policy's reviewers and the API are applied inside ``step``, at the step boundary:

    run = agenttrainer.Run("http://127.0.0.1:7007", token, name="my-run", model=model, optimizer=optimizer,
                           steps=10_000, evaluate=lambda: {"val_loss": validation_loss(model)},
                           checkpoint_dir="checkpoints", data_state=(loader.position, loader.seek))
    while run.continues:
        loss = model(...).loss
        optimizer.zero_grad(); loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), run.grad_clip or float("inf"))
        optimizer.step()
        run.step(loss.item(), grad_norm=float(grad_norm), samples=batch_size)
    run.finish()

The client owns the lr (``run.learning_rate``, times your ``schedule(step)``), the weight decay and the clipping
threshold, and sets them in every param group; it saves checkpoints (model, optimizer, RNG, your data position)
and loads one when told to roll back; it resets, freezes and unfreezes a named module; it sets the clipping
threshold at a percentile of the recent gradient norms; it skips data through your ``skip_data(batches)`` and hands
``update_dataset`` commands (add, remove, weights) to your ``update_dataset(command)``; it
evaluates through your callback; it pauses, resumes and stops. What it cannot do (a layer's own lr, explore) fails
with the reason. The service's trouble never stops your training: the client logs it, backs off and trains on.
Without a url it talks to nobody and just trains (``Run(None, ...)``). Without a token it uses
$AGENTTRAINER_TOKEN, else the token file the host wrote at its first start (~/.config/agent-trainer/api-token).
"""
import collections
import json
import logging
import math
import os
import queue
import random
import threading
import time
import urllib.error
import urllib.request

import torch

PROTOCOL_VERSION = 1
STATE_FILE = "agenttrainer-run.json"
_MAX_BACKOFF_S = 30.0
_GRAD_NORM_WINDOW = 1000
_MAX_OUTBOX = 1_000_000
_FLUSH_S = 1.0

log = logging.getLogger("agenttrainer")

OWN_EVALUATION = "the trainer's own evaluation"  # the host's name for a split the trainer did not name


def describe(handed_back):
    """The model a run hands back in words: the host's own words when it sent them, else worded as the host does."""
    if handed_back.get("description"):
        return handed_back["description"]
    checkpoint, step = handed_back.get("checkpoint"), handed_back.get("step")
    where = f", model {checkpoint}" + (f" (step {step})" if step is not None else "") if checkpoint else ""
    return f"val_loss {handed_back['val_loss']:.4f} on {handed_back['split']}{where}"


class ServiceError(Exception):
    """The service answered with an error status; ``detail`` is its problem details' detail."""

    def __init__(self, status, detail):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class _Service:
    """JSON over HTTP with a bearer token."""

    def __init__(self, url, token):
        self.url, self.token = url.rstrip("/"), token

    def call(self, method, path, body=None, timeout=10.0):
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read()).get("detail", error.reason)
            except (ValueError, AttributeError):
                detail = error.reason
            raise ServiceError(error.code, detail) from None


class _Backoff:
    def __init__(self):
        self.delay = 0.0

    def failed(self, stop):
        self.delay = min(_MAX_BACKOFF_S, max(0.5, self.delay * 2))
        stop.wait(self.delay)

    def succeeded(self):
        self.delay = 0.0


class Run:
    """One training run under AgentTrainer (see the module's documentation)."""

    def __init__(self, url, token=None, *, name, model, optimizer, steps, evaluate=None, checkpoint_dir=None,
                 data_state=None, schedule=None, grad_clip=0.0, reset_module=None, task="pytorch", description=None,
                 seed=0, resume=False, eval_every=None, checkpoint_every=None, device="cpu", skip_data=None,
                 update_dataset=None):
        self.model, self.optimizer, self.steps = model, optimizer, steps
        self._evaluate, self._data_state, self._schedule = evaluate, data_state, schedule or (lambda step: 1.0)
        self._reset_module = reset_module or _reset_parameters
        self._skip_data = skip_data
        self._update_dataset = update_dataset
        self._frozen = set()
        self._saved_ids = set()
        self._grad_norms = collections.deque(maxlen=_GRAD_NORM_WINDOW)
        self.checkpoint_dir = checkpoint_dir
        self._learning_rate = optimizer.param_groups[0]["lr"]
        self.weight_decay = optimizer.param_groups[0].get("weight_decay", 0.0)
        self.grad_clip = grad_clip
        self.step_number, self.branch, self._branches = 0, 0, 1
        self.paused = self.stopped = False
        self.session, self.run_id = 1, None
        self._eval_every, self._checkpoint_every = eval_every or 0, checkpoint_every or 0
        self._best = math.inf
        self._lr_now = self._learning_rate
        self._last_step_at = time.perf_counter()
        self._outbox = collections.deque()
        self._outbox_lock = threading.Condition()
        self._inbox = queue.Queue()
        self._seen = set()
        self._stop = threading.Event()
        self._ending = False
        self._threads = []
        self._service = None
        self._detached = url is None
        if url is not None:
            self._attach(url, token, name, task, description, seed, resume, device, eval_every, checkpoint_every)
        if self.session == 1:
            self._periodic(at_start=True)
        self._set_learning_rate()

    # ---- the loop's side ----

    @property
    def learning_rate(self):
        """The base lr (commands set and scale it); every param group trains at it times ``schedule(step)``."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = value
        self._set_learning_rate()

    @property
    def continues(self):
        """False once stopped or trained to ``steps``."""
        return not self.stopped and self.step_number < self.steps

    def step(self, loss, grad_norm=None, samples=0, step_ms=None):
        """Reports one optimizer step, then evaluates and checkpoints when due and applies the commands waiting
        (blocking while paused). Returns ``continues``."""
        now = time.perf_counter()
        elapsed = step_ms if step_ms is not None else 1000.0 * (now - self._last_step_at)
        finite = math.isfinite(loss) and (grad_norm is None or math.isfinite(grad_norm))
        self._report({"type": "step", "step": self.step_number, "loss": loss if math.isfinite(loss) else None,
                      "learning_rate": self._lr_now, "grad_norm": grad_norm if finite else None,
                      "non_finite": not finite, "samples": samples, "step_ms": max(0.0, elapsed)})
        if finite and grad_norm is not None:
            self._grad_norms.append(grad_norm)
        self.step_number += 1
        self._periodic()
        self._apply_commands()
        while self.paused and not self.stopped:
            self._apply_commands(wait=0.5)
        self._set_learning_rate()
        self._last_step_at = time.perf_counter()
        return self.continues

    def finish(self, outcome=None, evaluate=None, split=None):
        """Evaluates and checkpoints the last state, reports the end and sends what is left (waits up to 30 s).

        ``evaluate`` measures the model handed back (default: the run's own callback; pass a fuller one, such as
        the whole validation split, and name what it measures in ``split``). Returns the model the run hands back,
        as the host's run.json, run list and morning report give it: ``{"checkpoint", "step", "val_loss",
        "split"}`` (detached: this process's own figures, with no checkpoint); ``describe(...)`` words it."""
        outcome = outcome or ("stopped" if self.stopped else "completed")
        figures = self._evaluate_figures(evaluate)
        checkpoint = self._save_checkpoint()
        self._report({"type": "finished", "outcome": outcome, "step": self.step_number, "split": split})
        deadline = time.monotonic() + 30
        with self._outbox_lock:
            self._ending = True
            self._outbox_lock.notify_all()
            while self._outbox and not self._detached and time.monotonic() < deadline:
                self._outbox_lock.wait(0.1)
        handed_back = self._handed_back() or {
            "checkpoint": checkpoint, "step": self.step_number if checkpoint else None,
            "val_loss": figures["val_loss"] if figures else None, "split": split or OWN_EVALUATION}
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if handed_back["val_loss"] is not None:
            log.info("agenttrainer: the run hands back %s", describe(handed_back))
        return handed_back

    def _handed_back(self):
        """The host's word on the model handed back, once every report is sent; None without it."""
        if self._detached or self._outbox:
            return None
        try:
            return self._service.call("GET", f"/api/v1/runs/{self.run_id}").get("handed_back")
        except (OSError, ServiceError, ValueError) as error:
            log.warning("agenttrainer: cannot read the model the run hands back (%s)", error)
            return None

    # ---- registration and sessions ----

    def _attach(self, url, token, name, task, description, seed, resume, device, eval_every, checkpoint_every):
        token = token or _host_token()
        state_file = os.path.join(self.checkpoint_dir, STATE_FILE) if self.checkpoint_dir else None
        try:
            if resume and state_file and os.path.exists(state_file):
                with open(state_file) as handle:
                    saved = json.load(handle)
                self._service = _Service(saved["url"], saved["token"])
                attached = self._service.call("POST", f"/api/v1/runs/{saved['run_id']}/sessions",
                                              {"protocol_version": PROTOCOL_VERSION})
            else:
                layers = [n for n, _ in self.model.named_modules() if n]
                registration = {
                    "protocol_version": PROTOCOL_VERSION, "name": name, "task": task, "steps": self.steps,
                    "layers": layers, "description": description, "seed": seed,
                    "optimizer": {"name": type(self.optimizer).__name__.lower(), "learning_rate": self._learning_rate,
                                  "weight_decay": self.weight_decay, "grad_clip": self.grad_clip},
                    "capabilities": {"checkpoints": self.checkpoint_dir is not None, "layer_reset": True,
                                     "evaluation": self._evaluate is not None,
                                     "data_position": self._data_state is not None},
                    "framework": f"torch {torch.__version__}", "device": f"{device}, {torch.get_num_threads()} threads",
                }
                attached = _Service(url, token).call("POST", "/api/v1/runs", registration)
                self._service = _Service(url, attached["token"])
                if state_file:
                    os.makedirs(self.checkpoint_dir, exist_ok=True)
                    descriptor = os.open(state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(descriptor, "w") as handle:
                        json.dump({"url": url, "run_id": attached["run_id"], "token": attached["token"]}, handle)
        except (OSError, ServiceError, ValueError, KeyError) as error:
            log.warning("agenttrainer: cannot attach to %s (%s); training on without the service", url, error)
            self._detached = True
            return
        self.run_id, self.session = attached["run_id"], attached["session"]
        schedule = attached["schedule"]
        self._eval_every = eval_every if eval_every is not None else schedule["eval_every"]
        self._checkpoint_every = checkpoint_every if checkpoint_every is not None else schedule["checkpoint_every"]
        self._poll_wait, self._max_items = schedule["poll_wait_seconds"], schedule["max_batch_items"]
        if attached.get("resume_from"):
            point = attached["resume_from"]
            self._load_checkpoint(point["checkpoint_id"])
            self.branch, self._branches = point["branch"], point["branches"]
        log.info("agenttrainer: run %s, session %d, records in %s", self.run_id, self.session, attached["folder"])
        for target in (self._send_loop, self._poll_loop):
            thread = threading.Thread(target=target, name=f"agenttrainer-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)

    # ---- the service's side: two threads, never the loop's ----

    def _report(self, item):
        if self._detached:
            return
        with self._outbox_lock:
            if len(self._outbox) >= _MAX_OUTBOX:
                log.error("agenttrainer: %d reports wait unsent; no longer reporting this run", len(self._outbox))
                self._detached = True
                self._outbox.clear()
                return
            self._outbox.append(item)
            if len(self._outbox) >= self._max_items:
                self._outbox_lock.notify_all()

    def _send_loop(self):
        """Sends what the loop reported in bursts, one batch a second at most (a batch full, or the end, sends at
        once): a request per step would cost the loop more than its reports are worth."""
        backoff, batch = _Backoff(), 1
        while not self._detached:
            with self._outbox_lock:
                if not self._ending and len(self._outbox) < self._max_items:
                    self._outbox_lock.wait(_FLUSH_S)
                if not self._outbox:
                    if self._ending:
                        return
                    continue
                items = [self._outbox[i] for i in range(min(len(self._outbox), self._max_items))]
            try:
                self._service.call("POST", f"/api/v1/runs/{self.run_id}/reports", {"batch": batch, "items": items})
            except ServiceError as error:
                if error.status == 409 and "already recorded" in str(error.detail):
                    pass  # our last answer was lost: the batch is in
                elif 400 <= error.status < 500:  # the run ended, or a report it cannot take: later ones cannot follow
                    log.warning("agenttrainer: the service takes no more of this run's reports (%s); training goes on",
                                error)
                    self._detached = True
                    break
                else:
                    log.warning("agenttrainer: reporting failed (%s); trying again", error)
                    backoff.failed(self._stop)
                    continue
            except OSError as error:
                log.warning("agenttrainer: the service cannot be reached (%s); trying again", error)
                backoff.failed(self._stop)
                continue
            backoff.succeeded()
            batch += 1
            self._drop(len(items))
        with self._outbox_lock:
            self._outbox.clear()
            self._outbox_lock.notify_all()

    def _drop(self, count):
        with self._outbox_lock:
            for _ in range(count):
                self._outbox.popleft()
            self._outbox_lock.notify_all()

    def _poll_loop(self):
        backoff = _Backoff()
        while not self._detached and not self._stop.is_set():
            try:
                owed = self._service.call("GET", f"/api/v1/runs/{self.run_id}/commands?wait_s={self._poll_wait:g}",
                                          timeout=self._poll_wait + 10)
            except ServiceError as error:
                if error.status in (401, 403, 404, 409):
                    log.warning("agenttrainer: no more commands for this run (%s)", error)
                    return
                backoff.failed(self._stop)
                continue
            except OSError as error:
                log.warning("agenttrainer: polling for commands failed (%s); trying again", error)
                backoff.failed(self._stop)
                continue
            backoff.succeeded()
            for command in owed["commands"]:
                if command["id"] not in self._seen:
                    self._seen.add(command["id"])
                    self._inbox.put(command)

    # ---- commands, applied at the step boundary ----

    def _apply_commands(self, wait=None):
        while True:
            try:
                command = self._inbox.get(timeout=wait) if wait else self._inbox.get_nowait()
            except queue.Empty:
                return
            wait = None
            at_step = self.step_number
            try:
                detail = self._apply(command["command"])
                succeeded = True
            except Exception as error:  # a command that cannot be applied fails with its reason; training goes on
                detail, succeeded = str(error) or type(error).__name__, False
            self._report({"type": "outcome", "command_id": command["id"], "succeeded": succeeded,
                          "detail": detail, "step": at_step})

    def _apply(self, command):
        kind = command["kind"]
        if kind == "update_optimizer":
            return self._update_optimizer(command)
        if kind == "save_checkpoint":
            return f"saved {self._save_checkpoint()}"
        if kind == "load_checkpoint":
            step = self._load_checkpoint(command["checkpoint_id"])
            self.branch, self._branches = self._branches, self._branches + 1
            return f"restored {command['checkpoint_id']} (step {step}); continuing on branch {self.branch}"
        if kind == "model_layer_operation":
            return self._layer_operation(command["layer"], command.get("operation", "reset_parameters"))
        if kind == "update_dataset":
            if self._update_dataset is None:
                raise ValueError("this loop passed no update_dataset callback to Run")
            return self._update_dataset(command) or "dataset updated"
        if kind == "skip_data":
            if self._skip_data is None:
                raise ValueError("this loop passed no skip_data callback to Run")
            self._skip_data(command["batches"])
            return f"skipped {command['batches']} batches"
        if kind == "evaluate":
            return self._evaluate_now()
        if kind in ("pause", "resume"):
            self.paused = kind == "pause"
            return "paused" if self.paused else "resumed"
        if kind == "stop":
            self.stopped = True
            return "stopping after writing a checkpoint"
        raise ValueError(f"unknown command kind '{kind}'")

    def _update_optimizer(self, command):
        changes = []
        lr = command.get("learning_rate") or self._learning_rate * command.get("learning_rate_factor", 1.0)
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"the resulting learning rate {lr:g} is not above 0")
        if "weight_decay" in command:
            for group in self.optimizer.param_groups:
                if "weight_decay" not in group:
                    raise ValueError(f"{type(self.optimizer).__name__} has no weight decay to set")
            for group in self.optimizer.param_groups:
                group["weight_decay"] = command["weight_decay"]
            changes.append(f"weight_decay {self.weight_decay:.4g} -> {command['weight_decay']:.4g}")
            self.weight_decay = command["weight_decay"]
        if "learning_rate" in command or "learning_rate_factor" in command:
            changes.append(f"lr {self._learning_rate:.4g} -> {lr:.4g}")
            self._learning_rate = lr
        clip = command.get("grad_clip")
        if "grad_clip_percentile" in command:
            clip = _percentile(self._grad_norms, command["grad_clip_percentile"])
        if clip is not None:
            changes.append(f"grad_clip {self.grad_clip:.4g} -> {clip:.4g}")
            self.grad_clip = clip
        return "; ".join(changes)

    def _layer_operation(self, layer, operation):
        module = self.model.get_submodule(layer)
        if operation in ("freeze", "unfreeze"):
            # A parameter without a gradient is left out of the update, as PyTorch's optimizers do.
            for parameter in module.parameters():
                parameter.requires_grad_(operation == "unfreeze")
            (self._frozen.add if operation == "freeze" else self._frozen.discard)(layer)
            return f"{operation} {layer}"
        if operation != "reset_parameters":
            raise ValueError(f"operation '{operation}' is not offered by the PyTorch client")
        self._reset_module(module)
        parameters = list(module.parameters())
        for parameter in parameters:
            self.optimizer.state.pop(parameter, None)
        count = sum(p.numel() for p in parameters)
        return f"re-initialised {layer} ({count} parameters) and cleared its optimizer state"

    # ---- evaluation and checkpoints ----

    def _periodic(self, at_start=False):
        evaluate = at_start or (self._eval_every and self.step_number % self._eval_every == 0
                                and self.step_number < self.steps)
        new_best = False
        if evaluate and self._evaluate is not None:
            figures = self._evaluate_figures()
            new_best = figures is not None and figures["val_loss"] < self._best
            self._best = min(self._best, figures["val_loss"]) if figures else self._best
        periodic = self._checkpoint_every and self.step_number % self._checkpoint_every == 0
        if at_start or (new_best or periodic) and self.step_number < self.steps:  # finish() writes the last one
            self._save_checkpoint()

    def _evaluate_now(self):
        figures = self._evaluate_figures()
        return "nothing to evaluate with" if figures is None else f"val_loss {figures['val_loss']:.4f}"

    def _evaluate_figures(self, evaluate=None):
        evaluate = evaluate or self._evaluate
        if evaluate is None:
            return None
        result = evaluate()
        figures = result if isinstance(result, dict) else {"val_loss": float(result)}
        finite = math.isfinite(figures["val_loss"])
        self._report({"type": "evaluation", "step": self.step_number,
                      "val_loss": figures["val_loss"] if finite else None,
                      **{k: figures[k] for k in ("accuracy", "bits_per_char") if figures.get(k) is not None}})
        return figures

    def _save_checkpoint(self):
        if self.checkpoint_dir is None or self._detached:
            return None
        identifier = f"ckpt-{self.step_number:06d}-b{self.branch}-s{self.session}"
        # A second save at one boundary (a periodic one, then a command's) gets an id of its own: the service
        # refuses a batch that reports one id twice.
        taken, copy = identifier, 1
        while identifier in self._saved_ids:
            copy += 1
            identifier = f"{taken}-{copy}"
        self._saved_ids.add(identifier)
        path = os.path.join(self.checkpoint_dir, identifier + ".pt")
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        torch.save({
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(), "python_rng": random.getstate(),
            "data": self._data_state[0]() if self._data_state else None,
            "step": self.step_number, "learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
            "grad_clip": self.grad_clip, "frozen": sorted(self._frozen), "grad_norms": list(self._grad_norms),
        }, path + ".tmp")
        os.replace(path + ".tmp", path)
        self._report({"type": "checkpoint", "id": identifier, "step": self.step_number,
                      "bytes": os.path.getsize(path), "path": os.path.abspath(path)})
        return identifier

    def _load_checkpoint(self, identifier):
        path = os.path.join(self.checkpoint_dir or "", os.path.basename(identifier) + ".pt")
        if self.checkpoint_dir is None or not os.path.exists(path):
            raise FileNotFoundError(f"no checkpoint file {path}")
        state = torch.load(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        if self._data_state:
            self._data_state[1](state["data"])
        self.step_number, self._learning_rate = state["step"], state["learning_rate"]
        self.weight_decay, self.grad_clip = state["weight_decay"], state["grad_clip"]
        self._grad_norms = collections.deque(state.get("grad_norms", []), maxlen=_GRAD_NORM_WINDOW)
        for layer in self._frozen - set(state.get("frozen", [])):
            self._layer_operation(layer, "unfreeze")
        for layer in state.get("frozen", []):
            self._layer_operation(layer, "freeze")
        for group in self.optimizer.param_groups:
            if "weight_decay" in group:
                group["weight_decay"] = self.weight_decay
        return self.step_number

    def _set_learning_rate(self):
        self._lr_now = self._learning_rate * self._schedule(self.step_number)
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr_now


def _percentile(values, percentile):
    """NumPy's default (linear) percentile, as the .NET trainer takes it."""
    if len(values) < 2:
        raise ValueError(f"{len(values)} gradient norms measured on this lineage yet; a percentile needs at least 2")
    ordered = sorted(values)
    rank = percentile / 100 * (len(ordered) - 1)
    below = math.floor(rank)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (rank - below) * (ordered[above] - ordered[below])


def _host_token():
    """The host's API token as a trainer on the same machine finds it: $AGENTTRAINER_TOKEN, else the file the host
    generated at its first start."""
    if os.environ.get("AGENTTRAINER_TOKEN"):
        return os.environ["AGENTTRAINER_TOKEN"]
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    try:
        with open(os.path.join(config, "agent-trainer", "api-token")) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _reset_parameters(module):
    """PyTorch's own initialisation of every submodule that has one."""
    for child in module.modules():
        if hasattr(child, "reset_parameters"):
            child.reset_parameters()
