"""Train-and-score one task: the official Lightning loop, rewritten as a plain tensor loop.

What the official pipeline does (training_pipeline/train_runner.py + model.py under
PyTorch Lightning defaults), and how this module reproduces it:

* ``torch.manual_seed(1278)`` then the net is built (``ubm.evaluation.model.build_model``); nothing
  else consumes the RNG in a way that matters: there is no dropout and no shuffling, and
  AdamW is deterministic. (Lightning's DataLoader iterators do draw a base seed from the
  global RNG, but after the weights exist nothing reads it.)
* AdamW(lr=0.001), other arguments default; loss ``F.binary_cross_entropy_with_logits``
  (mean); batches of 128 in file order, last partial batch kept; 3 epochs; fp32.
* After each training epoch, a validation pass over the same clients in the same order,
  batches of 128, labelled from the validation window, model in eval mode under
  inference mode. Metrics are updated batch by batch (AUROC's per-batch sigmoid rule
  makes batching part of the metric), then computed and reset.
* Lightning's 2-batch "sanity check" validation before training: it runs the model in
  eval mode without gradients (no state change), then ``on_validation_epoch_end``
  computes *and resets* the metric calculator and does not append to the metrics
  tracker. It therefore changes neither weights, optimiser state, metric state nor any
  RNG draw that is later used, so it is not replicated.
* Score per epoch: AUROC (binary) or 0.8*AUROC + 0.1*diversity + 0.1*novelty; the task
  score is the best epoch (Python ``max`` over ``enumerate``: first maximum wins) rounded
  to 4 decimals. ``best_epoch`` is 0-based like the official ``epochs.json``.

Data are moved to the device once; batches are slices. Churn/conversion targets are
shaped [N, 1] (the official target calculator returns a length-1 vector per client), so
the logits given to the loss and to AUROC are [B, 1], as officially.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from typing import Iterator, Literal, Sequence, TextIO

import numpy as np
import torch
import torch.nn.functional as F

from ubm.console import TerminalBar
from ubm.evaluation.metrics import Kind, label_balance, make_task_metrics, task_score
from ubm.evaluation.model import BATCH_SIZE, LEARNING_RATE, MAX_EMBEDDING_DIM, MAX_EPOCH, SEED, build_model

__all__ = ["EpochResult", "TaskResult", "train_task", "select_best", "resolve_device", "expected_steps"]


@dataclass
class EpochResult:
    epoch: int  # 0-based
    auroc: float
    novelty: float | None
    diversity: float | None
    score: float  # unrounded
    train_loss: float  # mean of the per-batch mean losses
    steps: int  # optimiser steps in this epoch
    train_seconds: float
    val_seconds: float
    seconds: float  # train + validation
    train_samples_per_s: float


@dataclass
class TaskResult:
    kind: Kind
    epochs: list[EpochResult]
    best_epoch: int  # 0-based
    best_score: float  # rounded to 4 decimals
    labels_without_positives: int  # in the validation labels
    labels_without_negatives: int
    n_labels: int
    n_clients: int
    embedding_dim: int
    device: str
    official: bool  # False when fast took effect (CUDA), or hidden_sizes / epochs / batch_size differ from docs/evaluation.md §2
    fast: bool
    steps: int  # total optimiser steps
    seconds: float
    extra: dict = field(default_factory=dict)
    samples_per_s: float = 0.0  # training samples per second over all epochs
    peak_memory_bytes: int | None = None  # CUDA: peak allocated on the device; CPU: the process's peak RSS
    engine: str = "single"  # "single": this loop; "multi": trained together with other tasks (multi.py)
    #: float32 [n_clients, n_labels]: the best epoch's validation logits, rows in evaluated order.
    best_logits: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """Everything but the logits (too big for metrics.json; saved beside it as .npy)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "best_logits"}
        out["epochs"] = [asdict(e) for e in self.epochs]
        out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: dict, best_logits: np.ndarray | None = None) -> "TaskResult":
        known = {f.name for f in fields(cls)} - {"best_logits", "epochs"}
        epochs = [EpochResult(**e) for e in data["epochs"]]
        return cls(epochs=epochs, best_logits=best_logits, **{k: v for k, v in data.items() if k in known})


def select_best(scores: Sequence[float]) -> tuple[int, float]:
    """(best 0-based epoch, its score rounded to 4 decimals): Python max over enumerate, first max wins."""
    if not scores:
        raise ValueError("no epoch scores")
    epoch, score = max(enumerate(scores), key=lambda item: item[1])
    return epoch, round(score, 4)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return resolved


class _Progress:
    """The training bar (ubm.console.TerminalBar): batches done, samples per second, elapsed;
    only on a terminal, taken off the screen at the end of each pass."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.bar = TerminalBar(enabled, stream, unit="batches")

    def draw(self, label: str, done: int, total: int, start: float, unit_count: int, final: bool = False) -> None:
        if final:
            self.bar.clear()
            return
        rate = unit_count / max(time.perf_counter() - start, 1e-9)
        self.bar.update(label, done, total, f"{rate:,.0f} samples/s")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def _matmul_precision(fast: bool) -> Iterator[None]:
    """Official runs use PyTorch's default fp32 matmuls ("highest": no TF32), whatever the
    caller's process set; fast runs allow TF32. Restored afterwards."""
    previous = torch.get_float32_matmul_precision()
    cudnn = torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high" if fast else "highest")
    if fast:
        torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
        torch.backends.cudnn.allow_tf32 = cudnn


def _as_targets(y: np.ndarray, kind: Kind, n: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if kind == "binary":
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != 1:
            raise ValueError(f"{name}: a binary task needs labels of shape [N] or [N, 1], got {y.shape}")
    elif y.ndim != 2:
        raise ValueError(f"{name}: a propensity task needs labels of shape [N, L], got {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"{name}: {y.shape[0]} rows for {n} clients")
    return np.ascontiguousarray(y, dtype=np.float32)


def check_embeddings(x_np: np.ndarray) -> tuple[int, int]:
    """(clients, dimension) of a valid [N, D] floating-point embeddings array."""
    if x_np.ndim != 2 or x_np.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty [N, D] array, got {x_np.shape}")
    if not np.issubdtype(x_np.dtype, np.floating):
        raise ValueError(f"embeddings must be floating point, got {x_np.dtype}")
    if x_np.shape[1] > MAX_EMBEDDING_DIM:
        raise ValueError(f"embedding dimension {x_np.shape[1]} exceeds {MAX_EMBEDDING_DIM}")
    return int(x_np.shape[0]), int(x_np.shape[1])


def check_targets(y_train: np.ndarray, y_val: np.ndarray, kind: str, n: int,
                  popularity: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """float32 [N, L] train and validation targets, checked against each other and the task kind."""
    if kind not in ("binary", "propensity"):
        raise ValueError(f"unknown task kind {kind!r}")
    ytr = _as_targets(y_train, kind, n, "y_train")
    yva = _as_targets(y_val, kind, n, "y_val")
    if ytr.shape[1] != yva.shape[1]:
        raise ValueError(f"y_train has {ytr.shape[1]} labels, y_val {yva.shape[1]}")
    if kind == "propensity" and popularity is None:
        raise ValueError("a propensity task needs popularity")
    return ytr, yva


def embeddings_on(x_np: np.ndarray, dev: torch.device) -> torch.Tensor:
    """The embeddings on the device, loaded once.

    float16 -> float32 is exact, so converting per batch (keeps half the device memory) or
    up front gives identical inputs. On CPU convert once.
    """
    with warnings.catch_warnings():
        # A read-only (memory-mapped) entry: the tensor is only read, and copied below on CUDA.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        x_all = torch.from_numpy(np.ascontiguousarray(x_np))
    if dev.type == "cpu" or x_all.dtype not in (torch.float16, torch.float32):
        x_all = x_all.to(torch.float32)
    return x_all.to(dev)


def new_model(dim: int, n_labels: int, hidden_sizes: tuple[int, int] | None, dev: torch.device,
              use_fast: bool, seed: int = SEED) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The seeded net (official creation order) on the device and its AdamW. Another seed
    changes only the initial weights: batches stay in file order, as officially."""
    sizes = {} if hidden_sizes is None else {"hidden_size_thin": hidden_sizes[0], "hidden_size_wide": hidden_sizes[1]}
    model = build_model(dim, n_labels, seed=seed, **sizes).to(dev)
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, **({"fused": True} if use_fast else {}))
    return model, optimiser


def autocast_for(use_fast: bool, cache: bool = True):
    """bf16 autocast in fast mode, nothing otherwise (a context-manager factory)."""
    if use_fast:
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return lambda: nullcontext()


def is_official(use_fast: bool, hidden_sizes: tuple[int, int] | None, epochs: int, batch_size: int) -> bool:
    return not use_fast and hidden_sizes is None and epochs == MAX_EPOCH and batch_size == BATCH_SIZE


def reset_peak_memory(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def peak_memory(dev: torch.device) -> int | None:
    """Peak bytes: allocated on a CUDA device, or the whole process's resident set on CPU."""
    if dev.type == "cuda":
        return int(torch.cuda.max_memory_allocated(dev))
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class BestLogits:
    """Keeps the validation logits of the best epoch so far, with ``select_best``'s rule.

    Python's ``max`` replaces its candidate only when a later score is strictly greater,
    so the first maximum wins (and a NaN first score is never replaced), as here.
    """

    def __init__(self) -> None:
        self.score: float | None = None
        self.logits: torch.Tensor | None = None

    def offer(self, score: float, logits: torch.Tensor) -> None:
        if self.score is None or score > self.score:
            self.score, self.logits = score, logits

    def numpy(self) -> np.ndarray | None:
        return None if self.logits is None else self.logits.cpu().numpy().astype(np.float32, copy=False)


def epoch_result(epoch: int, kind: Kind, values, loss_sum: torch.Tensor, steps: int, n: int,
                 t0: float, t1: float, t2: float) -> EpochResult:
    return EpochResult(
        epoch=epoch,
        auroc=values.auroc,
        novelty=values.novelty,
        diversity=values.diversity,
        score=task_score(kind, values.auroc, values.novelty, values.diversity),
        train_loss=float(loss_sum.item()) / max(steps, 1),
        steps=steps,
        train_seconds=t1 - t0,
        val_seconds=t2 - t1,
        seconds=t2 - t0,
        train_samples_per_s=n / max(t1 - t0, 1e-9),
    )


def epoch_line(tag: str, epochs: int, kind: Kind, r: EpochResult) -> str:
    extra = "" if kind == "binary" else f" novelty {r.novelty:.4f} diversity {r.diversity:.4f}"
    return (f"{tag}epoch {r.epoch + 1}/{epochs}: score {r.score:.4f} auroc {r.auroc:.4f}{extra} "
            f"loss {r.train_loss:.4f} ({r.seconds:.1f}s)\n")


def train_task(
    embeddings: np.ndarray,
    y_train: np.ndarray,
    y_val: np.ndarray,
    *,
    kind: Literal["binary", "propensity"],
    popularity: np.ndarray | None,
    device: str = "cpu",
    epochs: int = MAX_EPOCH,
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
    fast: bool = False,
    label: str = "",
    hidden_sizes: tuple[int, int] | None = None,
    seed: int = SEED,
) -> TaskResult:
    """Train the evaluation model on one task and score it, as the official pipeline would.

    embeddings: [N, D] (float16 as submitted, or float32); fed to the model as float32.
    y_train / y_val: [N] or [N, 1] (binary) or [N, L] (propensity), 0/1, rows in embedding order.
    popularity: [L] purchase counts (propensity only; ignored for binary).
    fast: opt-in, unofficial: on CUDA, TF32 matmuls, bf16 autocast and fused AdamW.
    Has no effect on CPU (the result then stays official).
    label: prefix for the progress lines.
    hidden_sizes: (thin, wide) override of the fixed 2048/4096, for fast tests only.
    seed: of the initial weights; the official 1278 by default (``ubm train --seeds``).
    Any departure from docs/evaluation.md §2 (fast on CUDA, hidden_sizes, epochs != 3, batch_size != 128)
    marks the result ``official=False``.

    This is the reference loop: ``ubm.evaluation.multi.train_tasks`` trains several tasks
    together and is tested to give every epoch the same numbers as this one.
    """
    if kind not in ("binary", "propensity"):
        raise ValueError(f"unknown task kind {kind!r}")
    x_np = np.asarray(embeddings)
    n, dim = check_embeddings(x_np)
    ytr, yva = check_targets(y_train, y_val, kind, n, popularity)
    n_labels = ytr.shape[1]

    dev = resolve_device(device)
    use_fast = bool(fast) and dev.type == "cuda"
    balance = label_balance(yva)
    metrics = make_task_metrics(kind, n_labels, popularity if kind == "propensity" else None, device=dev)
    reset_peak_memory(dev)

    x_all = embeddings_on(x_np, dev)
    ytr_t = torch.from_numpy(ytr).to(dev)
    yva_t = torch.from_numpy(yva).to(dev)

    model, optimiser = new_model(dim, n_labels, hidden_sizes, dev, use_fast, seed)
    autocast = autocast_for(use_fast)

    starts = list(range(0, n, batch_size))  # last partial batch kept
    bar = _Progress(progress)
    tag = f"{label} " if label else ""
    results: list[EpochResult] = []
    best = BestLogits()
    total_steps = 0
    t_run = time.perf_counter()

    with _matmul_precision(use_fast):
        for epoch in range(epochs):
            # ---- training epoch
            model.train()
            _sync(dev)
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
            steps = 0
            for i, s in enumerate(starts):
                xb = x_all[s : s + batch_size].float()
                yb = ytr_t[s : s + batch_size]
                with autocast():
                    logits = model(xb)
                loss = F.binary_cross_entropy_with_logits(logits.float(), yb)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                loss_sum += loss.detach()
                steps += 1
                if i + 1 < len(starts):
                    bar.draw(f"{tag}epoch {epoch + 1}/{epochs} train", i + 1, len(starts), t0, s + batch_size)
            _sync(dev)
            t1 = time.perf_counter()
            bar.draw(f"{tag}epoch {epoch + 1}/{epochs} train", len(starts), len(starts), t0, n, final=True)

            # ---- validation pass over all clients, same order
            model.eval()
            with torch.inference_mode():
                val_logits = torch.empty((n, n_labels), dtype=torch.float32, device=dev)
                for i, s in enumerate(starts):
                    xb = x_all[s : s + batch_size].float()
                    with autocast():
                        logits = model(xb)
                    metrics.update(logits.float(), yva_t[s : s + batch_size])
                    val_logits[s : s + batch_size] = logits.float()
                    if i + 1 < len(starts):
                        bar.draw(f"{tag}epoch {epoch + 1}/{epochs} valid", i + 1, len(starts), t1, s + batch_size)
                values = metrics.compute()  # computes, then resets
            _sync(dev)
            t2 = time.perf_counter()
            bar.draw(f"{tag}epoch {epoch + 1}/{epochs} valid", len(starts), len(starts), t1, n, final=True)
            total_steps += steps
            results.append(epoch_result(epoch, kind, values, loss_sum, steps, n, t0, t1, t2))
            best.offer(results[-1].score, val_logits)
            if progress:
                sys.stderr.write(epoch_line(tag, epochs, kind, results[-1]))
                sys.stderr.flush()

    best_epoch, best_score = select_best([r.score for r in results])
    train_seconds = sum(r.train_seconds for r in results)
    return TaskResult(
        kind=kind,
        epochs=results,
        best_epoch=best_epoch,
        best_score=best_score,
        labels_without_positives=balance.without_positives,
        labels_without_negatives=balance.without_negatives,
        n_labels=n_labels,
        n_clients=n,
        embedding_dim=dim,
        device=str(dev),
        official=is_official(use_fast, hidden_sizes, epochs, batch_size),
        fast=bool(fast),
        steps=total_steps,
        seconds=time.perf_counter() - t_run,
        samples_per_s=n * len(results) / max(train_seconds, 1e-9),
        peak_memory_bytes=peak_memory(dev),
        best_logits=best.numpy(),
    )


def expected_steps(n_clients: int, epochs: int = MAX_EPOCH, batch_size: int = BATCH_SIZE) -> int:
    """Optimiser steps of a full run: ceil(n / batch) per epoch (last partial batch kept)."""
    return math.ceil(n_clients / batch_size) * epochs
