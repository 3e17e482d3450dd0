"""Small reference models: MLP, 1-D CNN (mnist1d), 2-D CNN (digits), RNN classifier, tiny GPT.

Introduced in notebook 00. All are plain PyTorch modules; ``masked=True`` builds them with masked
layers (``helpers.core.masks.to_masked``), so any notebook can prune them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from helpers.core.masks import to_masked
from helpers.plumbing.params import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_module,
    check_type,
)

__all__ = ["MLP", "CNN1d", "CNN2d", "RNNClassifier", "TinyGPT", "build"]


def build(model: nn.Module, masked: bool) -> nn.Module:
    """Return ``model`` converted to masked layers if ``masked`` (weights unchanged)."""
    check_module("model", model)
    check_bool("masked", masked)
    return to_masked(model) if masked else model


class MLP(nn.Module):
    """Fully connected ReLU network, e.g. ``MLP([40, 256, 256, 10])`` (notebook 01's LeNet-like MLP)."""

    def __init__(self, sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        if (
            isinstance(sizes, (str, bytes))
            or not isinstance(sizes, Sequence)
            or len(sizes) < 2
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes)
        ):
            raise ValueError(f"sizes must list at least two positive integers, got {sizes!r}")
        what = "a module class such as nn.ReLU"
        check_callable("activation", activation, what)
        # One activation per hidden layer, made (and checked) before any weight is drawn.
        activations = [activation() for _ in sizes[1:-1]]
        for made in activations:
            check_type("activation", made, nn.Module, f"{what} (activation() made a {made!r})")
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(activations):
                layers.append(activations[i])
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


class CNN1d(nn.Module):
    """Three 1-D convolutions and a linear read-out, for (N, L) or (N, 1, L) signals like mnist1d."""

    def __init__(self, length: int = 40, channels: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        # The first kernel spans 5 samples with padding 1, so it needs at least 3 input samples.
        check_int("length", length, 3)
        check_int("channels", channels, 1)
        check_int("num_classes", num_classes, 1)
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=1),  # (N, C, L/2)
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),  # (N, C, L/4)
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),  # (N, C, L/8)
            nn.ReLU(),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, 1, length)).numel()
        self.head = nn.Linear(n_flat, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)  # (N, L) -> (N, 1, L)
        return self.head(self.features(x).flatten(1))


class CNN2d(nn.Module):
    """Two 3×3 convolutions with batch norm and a linear read-out, for 8×8 digits (N, 1, 8, 8)."""

    def __init__(self, channels: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        check_int("channels", channels, 1)
        check_int("num_classes", num_classes, 1)
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),  # (N, C, 8, 8)
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, C, 4, 4)
            nn.Conv2d(channels, 2 * channels, 3, padding=1),  # (N, 2C, 4, 4)
            nn.BatchNorm2d(2 * channels),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),  # (N, 2C, 2, 2)
        )
        self.head = nn.Linear(8 * channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.view(-1, 1, 8, 8)
        return self.head(self.features(x).flatten(1))


class RNNClassifier(nn.Module):
    """A recurrent layer (``'rnn_tanh'``, ``'rnn_relu'``, ``'gru'`` or ``'lstm'``) read out at the last step.

    Input (N, T, features) or (N, T) (one feature per step); output (N, num_classes).
    """

    CELLS = ("rnn_tanh", "rnn_relu", "gru", "lstm")

    def __init__(
        self, input_size: int, hidden_size: int, num_classes: int, cell: str = "lstm"
    ) -> None:
        super().__init__()
        check_choice("cell", cell, self.CELLS)
        for name, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_classes", num_classes),
        ):
            check_int(name, value, 1)
        if cell.startswith("rnn"):
            self.rnn = nn.RNN(input_size, hidden_size, batch_first=True, nonlinearity=cell[4:])
        else:
            self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell](
                input_size, hidden_size, batch_first=True
            )
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(-1)  # (N, T) -> (N, T, 1)
        out, _ = self.rnn(x)  # (N, T, H)
        return self.head(out[:, -1])


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with plain ``nn.Linear`` projections (so they can be masked)."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)  # each (N, T, D)
        # (N, T, D) -> (N, heads, T, D / heads)
        q, k, v = (z.view(n, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)  # softmax(QK^T/√d)V
        return self.out(y.transpose(1, 2).reshape(n, t, d))  # back to (N, T, D)


class Block(nn.Module):
    """Pre-LN transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model),
            nn.GELU(),
            nn.Linear(mlp_ratio * d_model, d_model),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """A tiny pre-LN decoder-only transformer language model (characters in, next-character logits out)."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        block_size: int = 64,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("vocab_size", vocab_size, 1),
            ("d_model", d_model, 1),
            ("n_layers", n_layers, 0),
            ("n_heads", n_heads, 1),
            ("block_size", block_size, 1),
        ):
            check_int(name, value, low)
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.block_size = block_size
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(block_size, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if idx.dim() != 2 or idx.is_floating_point() or idx.is_complex():
            raise ValueError(
                f"idx must be a 2-D tensor of token ids (N, T), got {idx.dtype} of shape {tuple(idx.shape)}"
            )
        n, t = idx.shape  # (N, T) token ids
        if t > self.block_size:
            raise ValueError(f"sequence length {t} exceeds block_size {self.block_size}")
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))  # (N, T, D)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # (N, T, vocab)

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-character cross-entropy (nats); ``/ math.log(2)`` gives bits per character."""
        logits = self(idx)
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
        )


BITS_PER_NAT = 1.0 / math.log(2)
