"""Several tasks trained together: one pass over the batches drives every task's model.

The six tasks share the entry's rows and differ only in their labels and output heads, so
one pass over the batch positions can step every task's model: step i of each task runs
before step i + 1 of any. Nothing is shared between the models, so each task gets exactly
what ``ubm.evaluation.loop.train_task`` gives it alone (tests compare every epoch):

* initial weights: each net is built with ``torch.manual_seed(1278)`` then its modules in
  the official order (``build_model``), before any training, so all six start as they
  would alone (no draw from the global RNG happens after the weights exist);
* batches: batch i of a task is rows [128 i, 128 i + 128) of *that task's* rows in entry
  order. Churn evaluates only its active clients, so its rows are gathered once on the
  device and its batches (and its number of steps) differ from the other tasks';
* optimiser, loss and metrics: one AdamW, one loss sum and one metric calculator per
  task, fed the same tensors in the same order as the single-task loop.

Why together: at batch 128 one step of one task leaves most of a GPU idle and the loop is
bound by kernel launches. On CUDA each task runs on its own stream, so the device overlaps
the tasks' kernels, and the full batches' forward and backward passes (training) and
forward passes (validation) are replayed from CUDA graphs: the same kernels on the same
inputs, so the numbers do not change, with one launch instead of about a hundred. The
optimiser step stays eager: PyTorch's capturable AdamW computes its bias corrections on
the device in another order than the default one (different last bits). The last, partial
batch runs eagerly. Data sit on the device once; batches are views; the metrics accumulate
on the device (torchmetrics' device path has no host sync), and the host reads only the
epoch's loss and metric values.

On CPU the same loop runs without streams or graphs.
"""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ubm.contract import Kind
from ubm.evaluation.loop import (
    BestLogits,
    EpochResult,
    TaskResult,
    _matmul_precision,
    _Progress,
    _sync,
    autocast_for,
    check_embeddings,
    check_targets,
    embeddings_on,
    epoch_line,
    epoch_result,
    is_official,
    new_model,
    peak_memory,
    reset_peak_memory,
    resolve_device,
    select_best,
)
from ubm.evaluation.metrics import label_balance, make_task_metrics
from ubm.evaluation.model import BATCH_SIZE, MAX_EPOCH, SEED

__all__ = ["TaskData", "train_tasks"]


@dataclass
class TaskData:
    """One task's labels over the entry. rows: the entry rows it evaluates, in entry order
    (churn: its active clients); None means every row."""

    name: str
    kind: Kind
    y_train: np.ndarray
    y_val: np.ndarray
    popularity: np.ndarray | None = None
    rows: np.ndarray | None = None
    seed: int = SEED  # of the initial weights (``ubm train --seeds``)


class _Graphs:
    """CUDA graphs of one task's full batch: training forward + loss + backward, and the
    validation forward. Inputs are copied into static buffers before each replay."""

    def __init__(self, run: "_TaskRun") -> None:
        self.run = run
        bs, model = run.batch_size, run.model
        self.x = run.x[:bs].clone()
        self.y = run.ytr[:bs].clone()
        self.params = list(model.parameters())
        autocast = autocast_for(run.use_fast, cache=False)  # autocast's weight cache cannot live in a graph
        model.train()
        for _ in range(2):  # warm-up on the side stream: cuBLAS handles, workspaces, autograd state
            model.zero_grad(set_to_none=True)
            self._train_body(autocast)
        model.zero_grad(set_to_none=True)
        self.train_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.train_graph, stream=run.stream):
            self.loss = self._train_body(autocast)
        # The backward pass of the capture assigned each .grad; replays rewrite those tensors.
        self.grads = [p.grad for p in self.params]
        model.eval()
        self.val_graph = torch.cuda.CUDAGraph()
        with torch.inference_mode():
            for _ in range(2):
                self._val_body(autocast)
            with torch.cuda.graph(self.val_graph, stream=run.stream):
                self.logits = self._val_body(autocast)
        model.train()

    def _train_body(self, autocast: Callable) -> torch.Tensor:
        with autocast():
            logits = self.run.model(self.x.float())
        loss = F.binary_cross_entropy_with_logits(logits.float(), self.y)
        loss.backward()
        return loss.detach()

    def _val_body(self, autocast: Callable) -> torch.Tensor:
        with autocast():
            logits = self.run.model(self.x.float())
        return logits.float()

    def train_step(self, s: int) -> torch.Tensor:
        bs = self.run.batch_size
        self.x.copy_(self.run.x[s : s + bs])
        self.y.copy_(self.run.ytr[s : s + bs])
        self.train_graph.replay()
        for p, g in zip(self.params, self.grads):
            if p.grad is not g:  # an eager (partial) batch replaced it
                p.grad = g
        return self.loss

    def val_step(self, s: int) -> torch.Tensor:
        self.x.copy_(self.run.x[s : s + self.run.batch_size])
        self.val_graph.replay()
        return self.logits.clone()  # the static output is overwritten by the next replay


def graphs_refusal(graphs: bool, dev: torch.device, n: int, batch_size: int) -> str | None:
    """Why a task cannot replay CUDA graphs, or None when it can try."""
    if not graphs:
        return "turned off (--no-cuda-graphs)"
    if dev.type != "cuda":
        return f"not on CUDA ({dev.type})"
    if n < batch_size:
        return f"fewer rows ({n}) than one batch ({batch_size})"
    return None


class _TaskRun:
    """One task's model, optimiser, data views and metrics; steps exactly like train_task."""

    def __init__(self, task: TaskData, x_all: torch.Tensor, dev: torch.device, *, batch_size: int,
                 use_fast: bool, hidden_sizes: tuple[int, int] | None, graphs: bool,
                 x: torch.Tensor | None = None) -> None:
        self.task, self.dev, self.batch_size, self.use_fast = task, dev, batch_size, use_fast
        n_all, dim = x_all.shape
        rows = task.rows
        if x is not None:
            self.x = x  # the rows another seed of this task selected already (only read)
        elif rows is None or (len(rows) == n_all and np.array_equal(rows, np.arange(n_all))):
            self.x = x_all  # shared, not copied
        else:
            self.x = x_all.index_select(0, torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(dev))
        self.n = self.x.shape[0]
        ytr, yva = check_targets(task.y_train, task.y_val, task.kind, self.n, task.popularity)
        self.n_labels = ytr.shape[1]
        self.balance = label_balance(yva)
        self.ytr = torch.from_numpy(ytr).to(dev)
        self.yva = torch.from_numpy(yva).to(dev)
        self.metrics = make_task_metrics(task.kind, self.n_labels,
                                         task.popularity if task.kind == "propensity" else None, device=dev)
        self.model, self.optimiser = new_model(dim, self.n_labels, hidden_sizes, dev, use_fast, task.seed)
        self.autocast = autocast_for(use_fast)
        self.starts = list(range(0, self.n, batch_size))  # last partial batch kept
        self.stream = torch.cuda.Stream(dev) if dev.type == "cuda" else None
        # Why this task trains eagerly (metrics.json records it), None while graphs are wanted.
        self.graphs_reason = graphs_refusal(graphs, dev, self.n, batch_size)
        self.graphs: _Graphs | None = None
        self.results: list[EpochResult] = []
        self.best = BestLogits()

    def context(self):
        return torch.cuda.stream(self.stream) if self.stream is not None else nullcontext()

    def join_default_stream(self) -> None:
        """Work queued on the default stream (uploads, model creation) precedes this task's."""
        if self.stream is not None:
            self.stream.wait_stream(torch.cuda.current_stream(self.dev))

    def build_graphs(self) -> None:
        if self.graphs_reason is not None or self.graphs is not None:
            return
        try:
            with self.context():
                self.graphs = _Graphs(self)
        except RuntimeError as exc:  # a capture this torch/driver refuses: eager gives the same numbers
            _sync(self.dev)
            self.graphs = None
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            self.graphs_reason = f"capture failed: {first}"
            # Loud, not silent: timings of this task are eager ones from here on.
            sys.stderr.write(f"warning: {self.task.name}: CUDA graph capture failed ({first}); "
                             f"training eagerly (same numbers, slower)\n")
        self.model.zero_grad(set_to_none=True)
        self.model.train()

    def _eager_logits(self, s: int) -> torch.Tensor:
        """The batch at ``s`` through the model without a graph (the tail batch, or no graphs), as float32."""
        with self.autocast():
            logits = self.model(self.x[s : s + self.batch_size].float())
        return logits.float()

    def begin_train(self) -> None:
        self.model.train()
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=self.dev)

    def train_step(self, i: int) -> None:
        s, bs = self.starts[i], self.batch_size
        if self.graphs is not None and s + bs <= self.n:
            loss = self.graphs.train_step(s)
        else:
            loss = F.binary_cross_entropy_with_logits(self._eager_logits(s), self.ytr[s : s + bs])
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
        self.optimiser.step()
        self.loss_sum += loss.detach()

    def begin_val(self) -> None:
        self.model.eval()
        with torch.inference_mode():
            self.val_logits = torch.empty((self.n, self.n_labels), dtype=torch.float32, device=self.dev)

    def val_step(self, i: int) -> None:
        s, bs = self.starts[i], self.batch_size
        if self.graphs is not None and s + bs <= self.n:
            logits = self.graphs.val_step(s)
        else:
            logits = self._eager_logits(s)
        self.metrics.update(logits, self.yva[s : s + bs])
        self.val_logits[s : s + bs] = logits

    def compute(self) -> None:
        self.values = self.metrics.compute()  # computes, then resets

    def end_epoch(self, epoch: int, t0: float, t1: float, t2: float) -> EpochResult:
        values = self.values
        result = epoch_result(epoch, self.task.kind, values, self.loss_sum, len(self.starts), self.n, t0, t1, t2)
        self.results.append(result)
        self.best.offer(result.score, self.val_logits)
        return result


def _each(runs: Sequence[_TaskRun], step: Callable[[_TaskRun, int], None], n_steps: int,
          bar: _Progress, label: str, t0: float, n_max: int, batch_size: int) -> None:
    """Step i of every task (that has one) before step i + 1 of any."""
    for i in range(n_steps):
        for run in runs:
            if i < len(run.starts):
                with run.context():
                    step(run, i)
        if i + 1 < n_steps:
            bar.draw(label, i + 1, n_steps, t0, min((i + 1) * batch_size, n_max))
    bar.draw(label, n_steps, n_steps, t0, n_max, final=True)


def train_tasks(
    embeddings: np.ndarray,
    tasks: Sequence[TaskData],
    *,
    device: str = "cpu",
    epochs: int = MAX_EPOCH,
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
    fast: bool = False,
    hidden_sizes: tuple[int, int] | None = None,
    graphs: bool = True,
) -> dict[str, TaskResult]:
    """Train and score several tasks together; each result equals ``train_task``'s for that task.

    embeddings: the entry's [N, D] rows (each task's ``rows`` index into them).
    graphs: replay full batches from CUDA graphs (CUDA only; ignored elsewhere).
    Epoch and run times are shared: every task's seconds are the wall time of all of them.
    """
    x_np = np.asarray(embeddings)
    check_embeddings(x_np)
    names = [t.name for t in tasks]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"tasks must be distinct and non-empty, got {names}")
    dev = resolve_device(device)
    # cuda:N: graphs are captured and streams made on the current device, so make it dev
    with torch.cuda.device(dev) if dev.type == "cuda" else nullcontext():
        return _train_tasks(x_np, tasks, dev, epochs, batch_size, progress, fast, hidden_sizes, graphs)


def _train_tasks(x_np: np.ndarray, tasks: Sequence[TaskData], dev: torch.device, epochs: int, batch_size: int,
                 progress: bool, fast: bool, hidden_sizes: tuple[int, int] | None,
                 graphs: bool) -> dict[str, TaskResult]:
    names = [t.name for t in tasks]
    use_fast = bool(fast) and dev.type == "cuda"
    reset_peak_memory(dev)
    t_run = time.perf_counter()
    x_all = embeddings_on(x_np, dev)
    runs: list[_TaskRun] = []
    selected: dict[int, torch.Tensor] = {}  # a task's seeds share one array of rows: selected once
    for t in tasks:
        runs.append(_TaskRun(t, x_all, dev, batch_size=batch_size, use_fast=use_fast, hidden_sizes=hidden_sizes,
                             graphs=graphs, x=selected.get(id(t.rows))))
        selected.setdefault(id(t.rows), runs[-1].x)
    n_steps = max(len(r.starts) for r in runs)
    n_max = max(r.n for r in runs)
    bar = _Progress(progress)
    tag = f"{len(runs)} tasks "

    with _matmul_precision(use_fast):
        for run in runs:
            run.join_default_stream()
            run.build_graphs()
        for epoch in range(epochs):
            _sync(dev)
            t0 = time.perf_counter()
            for run in runs:
                with run.context():  # the loss sum is filled on the task's stream
                    run.begin_train()
            _each(runs, _TaskRun.train_step, n_steps, bar, f"{tag}epoch {epoch + 1}/{epochs} train", t0, n_max,
                  batch_size)
            _sync(dev)
            t1 = time.perf_counter()
            with torch.inference_mode():
                for run in runs:
                    with run.context():
                        run.begin_val()
                _each(runs, _TaskRun.val_step, n_steps, bar, f"{tag}epoch {epoch + 1}/{epochs} valid", t1, n_max,
                      batch_size)
                for run in runs:  # in the validation time, as in the one-task loop
                    with run.context():
                        run.compute()
                _sync(dev)
                t2 = time.perf_counter()
                for run in runs:
                    with run.context():
                        result = run.end_epoch(epoch, t0, t1, t2)
                    if progress:
                        sys.stderr.write(epoch_line(f"{run.task.name} ", epochs, run.task.kind, result))
            sys.stderr.flush()

    seconds = time.perf_counter() - t_run
    peak = peak_memory(dev)
    return {run.task.name: _task_result(run, dev, use_fast, fast, hidden_sizes, epochs, batch_size, seconds, peak,
                                        names) for run in runs}


def _task_result(run: _TaskRun, dev: torch.device, use_fast: bool, fast: bool,
                 hidden_sizes: tuple[int, int] | None, epochs: int, batch_size: int, seconds: float,
                 peak: int | None, names: list[str]) -> TaskResult:
    best_epoch, best_score = select_best([r.score for r in run.results])
    train_seconds = sum(r.train_seconds for r in run.results)
    return TaskResult(
        kind=run.task.kind,
        epochs=run.results,
        best_epoch=best_epoch,
        best_score=best_score,
        labels_without_positives=run.balance.without_positives,
        labels_without_negatives=run.balance.without_negatives,
        n_labels=run.n_labels,
        n_clients=run.n,
        embedding_dim=int(run.x.shape[1]),
        device=str(dev),
        official=is_official(use_fast, hidden_sizes, epochs, batch_size),
        fast=bool(fast),
        steps=len(run.starts) * len(run.results),
        seconds=seconds,
        extra={"trained_with": names, "cuda_graphs": run.graphs is not None,
               "cuda_graphs_reason": run.graphs_reason},
        samples_per_s=run.n * len(run.results) / max(train_seconds, 1e-9),
        peak_memory_bytes=peak,
        engine="multi",
        best_logits=run.best.numpy(),
    )
