"""The fixed evaluation model of docs/evaluation.md §1.

The layout, attribute names and, above all, the order in which the sub-modules are
created mirror the official ``training_pipeline.model.Net``: PyTorch's default
initialisation draws from the global RNG in module-creation order, so after
``torch.manual_seed(1278)`` the same order gives bit-identical initial weights, and
``UniversalNet.state_dict()`` has the same keys as the official ``Net`` (the official
``UniversalModel`` prefixes them with ``net.``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ubm.contract import MAX_COLUMNS

SEED = 1278
HIDDEN_SIZE_THIN = 2048
HIDDEN_SIZE_WIDE = 4096
N_BLOCKS = 3
LEARNING_RATE = 0.001
BATCH_SIZE = 128
MAX_EPOCH = 3
MAX_EMBEDDING_DIM = MAX_COLUMNS


class BottleneckBlock(nn.Module):
    """Inverted bottleneck: thin -> wide -> GELU (exact erf form) -> thin.

    ``l1`` is created before ``l2`` (this matters for the seeded initialisation).
    """

    def __init__(self, thin_dim: int, wide_dim: int) -> None:
        super().__init__()
        self.l1 = nn.Linear(thin_dim, wide_dim)
        self.l2 = nn.Linear(wide_dim, thin_dim)
        self.gelu = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.l2(self.gelu(self.l1(x)))


class UniversalNet(nn.Module):
    """Projection, input LayerNorm, three pre-norm residual bottlenecks, output LayerNorm, linear head.

    Creation order: input_projection, ln_input, layernorms[0..2], bottlenecks[0..2]
    (each l1 then l2), ln_output, linear_output.
    """

    def __init__(
        self,
        embedding_dim: int,
        output_dim: int,
        hidden_size_thin: int = HIDDEN_SIZE_THIN,
        hidden_size_wide: int = HIDDEN_SIZE_WIDE,
    ) -> None:
        super().__init__()
        if embedding_dim < 1 or output_dim < 1:
            raise ValueError(f"embedding_dim and output_dim must be >= 1, got {embedding_dim}, {output_dim}")
        self.input_projection = nn.Linear(embedding_dim, hidden_size_thin)
        self.ln_input = nn.LayerNorm(normalized_shape=hidden_size_thin)
        self.layernorms = nn.ModuleList(
            [nn.LayerNorm(normalized_shape=hidden_size_thin) for _ in range(N_BLOCKS)]
        )
        self.bottlenecks = nn.ModuleList(
            [BottleneckBlock(thin_dim=hidden_size_thin, wide_dim=hidden_size_wide) for _ in range(N_BLOCKS)]
        )
        self.ln_output = nn.LayerNorm(normalized_shape=hidden_size_thin)
        self.linear_output = nn.Linear(hidden_size_thin, output_dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.ln_input(self.input_projection(x))
        for norm, block in zip(self.layernorms, self.bottlenecks):
            x = x + block(norm(x))
        return self.linear_output(self.ln_output(x))


def build_model(
    embedding_dim: int,
    output_dim: int,
    seed: int = SEED,
    *,
    hidden_size_thin: int = HIDDEN_SIZE_THIN,
    hidden_size_wide: int = HIDDEN_SIZE_WIDE,
) -> UniversalNet:
    """Seed the global torch RNG exactly as the official code does, then build the net (on CPU).

    Like the official pipeline this reseeds the *global* generator; the model is created on
    CPU (the official LightningModule is also built on CPU and moved afterwards). The hidden
    sizes are fixed by docs/evaluation.md §1; overriding them is for tests only.
    """
    torch.manual_seed(seed)
    return UniversalNet(
        embedding_dim=embedding_dim,
        output_dim=output_dim,
        hidden_size_thin=hidden_size_thin,
        hidden_size_wide=hidden_size_wide,
    )


def parameter_count(
    embedding_dim: int,
    output_dim: int,
    hidden_size_thin: int = HIDDEN_SIZE_THIN,
    hidden_size_wide: int = HIDDEN_SIZE_WIDE,
) -> int:
    """Closed-form number of parameters of ``UniversalNet`` (weights + biases + LayerNorm affine)."""
    t, w = hidden_size_thin, hidden_size_wide
    projection = embedding_dim * t + t
    norms = (2 + N_BLOCKS) * 2 * t  # ln_input, block norms, ln_output
    blocks = N_BLOCKS * ((t * w + w) + (w * t + t))
    head = t * output_dim + output_dim
    return projection + norms + blocks + head
