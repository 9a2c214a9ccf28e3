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
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from typing import Iterator, Literal, Sequence, TextIO

import numpy as np
import torch
import torch.nn.functional as F

from ubm.evaluation.metrics import Kind, label_balance, make_task_metrics, task_score
from ubm.evaluation.model import BATCH_SIZE, LEARNING_RATE, MAX_EMBEDDING_DIM, MAX_EPOCH, SEED, build_model

__all__ = ["EpochResult", "TaskResult", "train_task", "select_best", "resolve_device"]


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
    official: bool  # False when fast took effect (CUDA), or hidden_sizes / epochs / batch_size differ from the SPEC
    fast: bool
    steps: int  # total optimiser steps
    seconds: float
    extra: dict = field(default_factory=dict)
    # Validation logits of the best epoch, float32 [n_clients, n_labels], evaluated order: what
    # a bootstrap resamples (ubm.evaluation.significance). Not part of metrics.json.
    best_logits: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """Every field but ``best_logits``, in field order (asdict would deep-copy the array)."""
        out = asdict(replace(self, best_logits=None))
        del out["best_logits"]
        return out


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
    """A dependency-free carriage-return progress bar on stderr, redrawn at most ~5 times a second.

    Drawn only on a terminal: in a log file the carriage returns would pile up into one
    huge line, and the per-epoch summary lines already say how training went.
    """

    def __init__(self, enabled: bool, stream: TextIO | None = None, width: int = 28) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.width = width
        self._last = 0.0

    def draw(self, label: str, done: int, total: int, start: float, unit_count: int, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not final and now - self._last < 0.2:
            return
        self._last = now
        frac = done / total if total else 1.0
        filled = int(round(frac * self.width))
        elapsed = max(now - start, 1e-9)
        rate = unit_count / elapsed
        line = f"\r{label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} batches {rate:,.0f} samples/s {elapsed:.1f}s"
        self.stream.write(line + ("\n" if final else ""))
        self.stream.flush()


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
) -> TaskResult:
    """Train the evaluation model on one task and score it, as the official pipeline would.

    embeddings: [N, D] (float16 as submitted, or float32); fed to the model as float32.
    y_train / y_val: [N] or [N, 1] (binary) or [N, L] (propensity), 0/1, rows in embedding order.
    popularity: [L] purchase counts (propensity only; ignored for binary).
    fast: opt-in, unofficial: on CUDA, TF32 matmuls, bf16 autocast and fused AdamW.
    Has no effect on CPU (the result then stays official).
    label: prefix for the progress lines.
    hidden_sizes: (thin, wide) override of the fixed 2048/4096, for fast tests only.
    Any departure from the SPEC (fast on CUDA, hidden_sizes, epochs != 3, batch_size != 128)
    marks the result ``official=False``.
    """
    if kind not in ("binary", "propensity"):
        raise ValueError(f"unknown task kind {kind!r}")
    x_np = np.asarray(embeddings)
    if x_np.ndim != 2 or x_np.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty [N, D] array, got {x_np.shape}")
    if not np.issubdtype(x_np.dtype, np.floating):
        raise ValueError(f"embeddings must be floating point, got {x_np.dtype}")
    n, dim = x_np.shape
    if dim > MAX_EMBEDDING_DIM:
        raise ValueError(f"embedding dimension {dim} exceeds {MAX_EMBEDDING_DIM}")
    ytr = _as_targets(y_train, kind, n, "y_train")
    yva = _as_targets(y_val, kind, n, "y_val")
    if ytr.shape[1] != yva.shape[1]:
        raise ValueError(f"y_train has {ytr.shape[1]} labels, y_val {yva.shape[1]}")
    n_labels = ytr.shape[1]
    if kind == "propensity" and popularity is None:
        raise ValueError("a propensity task needs popularity")

    dev = resolve_device(device)
    use_fast = bool(fast) and dev.type == "cuda"
    balance = label_balance(yva)
    metrics = make_task_metrics(kind, n_labels, popularity if kind == "propensity" else None, device=dev)

    # Loaded once. float16 -> float32 is exact, so converting per batch (keeps half the
    # device memory) or up front gives identical inputs. On CPU convert once.
    x_all = torch.from_numpy(np.ascontiguousarray(x_np))
    if dev.type == "cpu" or x_all.dtype not in (torch.float16, torch.float32):
        x_all = x_all.to(torch.float32)
    x_all = x_all.to(dev)
    ytr_t = torch.from_numpy(ytr).to(dev)
    yva_t = torch.from_numpy(yva).to(dev)

    sizes = {} if hidden_sizes is None else {"hidden_size_thin": hidden_sizes[0], "hidden_size_wide": hidden_sizes[1]}
    model = build_model(dim, n_labels, seed=SEED, **sizes).to(dev)
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, **({"fused": True} if use_fast else {}))
    autocast = (
        (lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)) if use_fast else (lambda: nullcontext())
    )

    starts = list(range(0, n, batch_size))  # last partial batch kept
    bar = _Progress(progress)
    tag = f"{label} " if label else ""
    results: list[EpochResult] = []
    total_steps = 0
    best_logits: torch.Tensor | None = None  # kept by the rule of select_best: a later epoch must score higher
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
            epoch_logits = torch.empty((n, n_labels), dtype=torch.float32, device=dev)
            with torch.inference_mode():
                for i, s in enumerate(starts):
                    xb = x_all[s : s + batch_size].float()
                    with autocast():
                        logits = model(xb)
                    metrics.update(logits.float(), yva_t[s : s + batch_size])
                    epoch_logits[s : s + batch_size] = logits.float()
                    if i + 1 < len(starts):
                        bar.draw(f"{tag}epoch {epoch + 1}/{epochs} valid", i + 1, len(starts), t1, s + batch_size)
                values = metrics.compute()  # computes, then resets
            _sync(dev)
            t2 = time.perf_counter()
            bar.draw(f"{tag}epoch {epoch + 1}/{epochs} valid", len(starts), len(starts), t1, n, final=True)
            total_steps += steps
            score = task_score(kind, values.auroc, values.novelty, values.diversity)
            if not results or score > max(r.score for r in results):
                best_logits = epoch_logits
            del epoch_logits
            results.append(
                EpochResult(
                    epoch=epoch,
                    auroc=values.auroc,
                    novelty=values.novelty,
                    diversity=values.diversity,
                    score=score,
                    train_loss=float(loss_sum.item()) / max(steps, 1),
                    steps=steps,
                    train_seconds=t1 - t0,
                    val_seconds=t2 - t1,
                    seconds=t2 - t0,
                    train_samples_per_s=n / max(t1 - t0, 1e-9),
                )
            )
            if progress:
                extra = "" if kind == "binary" else f" novelty {values.novelty:.4f} diversity {values.diversity:.4f}"
                sys.stderr.write(
                    f"{tag}epoch {epoch + 1}/{epochs}: score {score:.4f} auroc {values.auroc:.4f}{extra} "
                    f"loss {results[-1].train_loss:.4f} ({t2 - t0:.1f}s)\n"
                )
                sys.stderr.flush()

    best_epoch, best_score = select_best([r.score for r in results])
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
        official=not use_fast and hidden_sizes is None and epochs == MAX_EPOCH and batch_size == BATCH_SIZE,
        fast=bool(fast),
        steps=total_steps,
        seconds=time.perf_counter() - t_run,
        best_logits=None if best_logits is None else best_logits.cpu().numpy(),
    )


def expected_steps(n_clients: int, epochs: int = MAX_EPOCH, batch_size: int = BATCH_SIZE) -> int:
    """Optimiser steps of a full run: ceil(n / batch) per epoch (last partial batch kept)."""
    return math.ceil(n_clients / batch_size) * epochs
