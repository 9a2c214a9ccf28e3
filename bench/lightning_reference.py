"""An independent reference for `ubm train`: the evaluation of docs/evaluation.md §1-3 under PyTorch Lightning.

Written from the contract alone (now docs/evaluation.md), in the shape of the official pipeline (a LightningModule, a
DataLoader of 128 without shuffling, Lightning's Trainer with its default sanity check,
torchmetrics metrics updated per validation batch), sharing no code with ``ubm.evaluation.loop``.
It is not run in CI (Lightning is not a dependency); the device check runs it beside
`ubm train` on the same labels and compares the scores.

    python bench/lightning_reference.py --entry E --labels T --tasks churn,... --out scores.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import AUROC, Metric


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Linear(2048, 4096)
        self.l2 = nn.Linear(4096, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2(F.gelu(self.l1(x)))


class Net(nn.Module):
    def __init__(self, dim: int, n_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, 2048)
        self.norm_in = nn.LayerNorm(2048)
        self.norms = nn.ModuleList([nn.LayerNorm(2048) for _ in range(3)])
        self.blocks = nn.ModuleList([Block() for _ in range(3)])
        self.norm_out = nn.LayerNorm(2048)
        self.out = nn.Linear(2048, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm_in(self.proj(x))
        for norm, block in zip(self.norms, self.blocks):
            x = x + block(norm(x))
        return self.out(self.norm_out(x))


class Diversity(Metric):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("rows", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor) -> None:
        p = torch.sigmoid(logits)
        p = p / p.sum(dim=-1, keepdim=True)
        self.total -= torch.sum(p * torch.log2(p + 1e-9))
        self.rows += p.shape[0]

    def compute(self) -> torch.Tensor:
        return self.total / ((self.rows + 1e-9) * torch.log2(torch.tensor(float(self.n))))


class Novelty(Metric):
    def __init__(self, popularity: np.ndarray) -> None:
        super().__init__()
        self.k = min(10, len(popularity))
        norm = np.sort(popularity)[-self.k:].sum()
        self.register_buffer("pop", torch.tensor(popularity / norm))
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("rows", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor) -> None:
        values, idx = torch.topk(torch.sigmoid(logits), self.k, dim=1)
        self.total += torch.sum(values * self.pop[idx])
        self.rows += logits.shape[0]

    def compute(self) -> torch.Tensor:
        return (1 - self.total / (self.rows + 1e-9)) ** 100


class Module(pl.LightningModule):
    def __init__(self, dim: int, n_out: int, popularity: np.ndarray | None) -> None:
        super().__init__()
        torch.manual_seed(1278)
        self.net = Net(dim, n_out)
        self.binary = popularity is None
        self.auroc = AUROC(task="binary") if self.binary else AUROC(task="multilabel", num_labels=n_out)
        if not self.binary:
            self.div = Diversity(n_out)
            self.nov = Novelty(popularity)
        self.history: list[float] = []

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.001)

    def training_step(self, batch, _):
        x, y = batch
        return F.binary_cross_entropy_with_logits(self.net(x), y)

    def validation_step(self, batch, _):
        x, y = batch
        logits = self.net(x)
        self.auroc.update(logits, y.long())
        if not self.binary:
            self.div.update(logits)
            self.nov.update(logits)

    def on_validation_epoch_end(self) -> None:
        score = float(self.auroc.compute())
        self.auroc.reset()
        if not self.binary:
            score = 0.8 * score + 0.1 * float(self.nov.compute()) + 0.1 * float(self.div.compute())
            self.div.reset()
            self.nov.reset()
        if not self.trainer.sanity_checking:
            self.history.append(score)


def run_task(entry: Path, labels: Path, task: str, accelerator: str) -> dict:
    ids = np.load(entry / "client_ids.npy")
    emb = np.load(entry / "embeddings.npy").astype(np.float32)
    task_dir = labels / task
    task_ids = np.load(task_dir / "client_ids.npy")
    rows = {int(c): i for i, c in enumerate(task_ids)}
    keep = [i for i, c in enumerate(ids) if int(c) in rows]  # entry order, as officially
    lab = [rows[int(ids[i])] for i in keep]
    y_tr = np.load(task_dir / "train.npy")[lab].astype(np.float32)
    y_va = np.load(task_dir / "validation.npy")[lab].astype(np.float32)
    x = torch.from_numpy(emb[keep])
    pop_path = task_dir / "popularity.npy"
    popularity = np.load(pop_path) if pop_path.exists() else None
    module = Module(x.shape[1], y_tr.shape[1], popularity)
    train = DataLoader(TensorDataset(x, torch.from_numpy(y_tr)), batch_size=128)
    val = DataLoader(TensorDataset(x, torch.from_numpy(y_va)), batch_size=128)
    trainer = pl.Trainer(accelerator=accelerator, devices=1, max_epochs=3, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train, val)
    best = max(enumerate(module.history), key=lambda e: e[1])
    return {"score": round(best[1], 4), "epochs": module.history, "best_epoch": best[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entry", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--tasks", default="churn,conversion,propensity_category,propensity_sku,"
                                           "propensity_new_sku,propensity_price")
    parser.add_argument("--accelerator", default="gpu")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    results = {t: run_task(args.entry, args.labels, t, args.accelerator) for t in args.tasks.split(",")}
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps({t: r["score"] for t, r in results.items()}))


if __name__ == "__main__":
    main()
