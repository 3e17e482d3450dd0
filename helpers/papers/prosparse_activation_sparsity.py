"""Notebook 10 · ProSparse (Song, Han, Zhang, ... Sun, arXiv:2402.13516, COLING 2025).

ProSparse makes the gated feed-forward network (FFN) of a language model *activation-sparse*:

1. swap the gate's SiLU for ReLU and keep training (ReLU outputs exact zeros);
2. add an L1 penalty on the FFN's intermediate output x1 = s ⊙ (x W_up), s = ReLU(x W_gate), with a
   factor λ that rises *progressively*: a constant warm-up, then per stage the S-shaped half-sine
   ramp of the paper's Algorithm 1, η = (sin(−π/2 + π·frac) + 1) / 2, λ = λ_{i−1} + η (λ_i − λ_{i−1});
3. shift the ReLU's threshold (FATReLU: σ(z) = z if z ≥ t else 0) to drop the weakest activations.

A zero in x1 means the matching row of W_up and column of W_down need not be read for that token:
a sparse kernel skips them. The zero fractions are measured with the activation recorders of
``helpers.core.activations`` (forward hooks), on the module ``ffn.intermediate`` that outputs x1.

This module holds a char-level LM with one gated FFN, written for *many models at once*
(``GatedFFNLM``: every weight has a leading model axis, so replicates and λ settings train as one
batched model), the λ schedule, the training loop and the measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.core.activations import ActivationRecorder
from helpers.core.data import CharCorpus
from helpers.plumbing.params import check_choice, check_float, check_int, check_list, check_tensor

__all__ = [
    "FATReLU",
    "GatedFFNLM",
    "prosparse_lambda",
    "stage_plan",
    "set_activation",
    "windows",
    "train",
    "evaluate",
    "ffn_skip_fraction",
    "loss_at_sparsity",
]


class FATReLU(nn.Module):
    """ReLU with a threshold t (Kurtz et al. 2020; ProSparse Eq. 3): σ(z) = z if z ≥ t, else 0.

    t = 0 is the plain ReLU (up to the value at exactly 0, which is 0 either way).
    """

    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__()
        self.threshold = check_float("threshold", threshold, 0.0, finite=True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.where(z >= self.threshold, z, torch.zeros_like(z)).relu()

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"


ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU}


class _GatedFFN(nn.Module):
    """FFN(x) = x1 W_down with x1 = σ(x W_gate) ⊙ (x W_up) (ProSparse Eq. 1), for M models at once.

    ``act`` is the gate's activation module and ``intermediate`` an identity that outputs x1: both
    are modules, so forward hooks can record s and x1.
    """

    def __init__(self, models: int, d_model: int, d_ff: int, activation: str) -> None:
        super().__init__()
        scale = d_model**-0.5
        self.w_gate = nn.Parameter(torch.randn(models, d_model, d_ff) * scale)
        self.w_up = nn.Parameter(torch.randn(models, d_model, d_ff) * scale)
        self.w_down = nn.Parameter(torch.randn(models, d_ff, d_model) * d_ff**-0.5)
        self.act: nn.Module = ACTIVATIONS[activation]()
        self.intermediate = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (M, B, d_model)
        s = self.act(torch.bmm(x, self.w_gate))  # (M, B, d_ff) gate activations
        x1 = self.intermediate(s * torch.bmm(x, self.w_up))  # (M, B, d_ff), the L1 target
        return torch.bmm(x1, self.w_down)  # (M, B, d_model)


class GatedFFNLM(nn.Module):
    """M independent char-level LMs: the last ``context`` characters predict the next one.

    Per model: embed each character (``d_embed``), concatenate, project to ``d_model``, LayerNorm,
    add the gated FFN as a residual, LayerNorm, linear head over the vocabulary. Every weight has a
    leading axis of size ``models``; the models never share a number, so summing their losses and
    taking one Adam(W) step trains each exactly as if alone (Adam works per weight entry).
    """

    def __init__(
        self,
        models: int,
        vocab: int,
        context: int = 16,
        d_embed: int = 16,
        d_model: int = 64,
        d_ff: int = 256,
        activation: str = "silu",
    ) -> None:
        super().__init__()
        for name, value in (("models", models), ("vocab", vocab), ("context", context),
                            ("d_embed", d_embed), ("d_model", d_model), ("d_ff", d_ff)):  # fmt: skip
            check_int(name, value, 1)
        check_choice("activation", activation, sorted(ACTIVATIONS))
        self.models, self.context = models, context
        self.embed = nn.Parameter(torch.randn(models, vocab, d_embed) * 0.5)
        fan_in = context * d_embed
        self.w_in = nn.Parameter(torch.randn(models, fan_in, d_model) * fan_in**-0.5)
        self.b_in = nn.Parameter(torch.zeros(models, 1, d_model))
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.ffn = _GatedFFN(models, d_model, d_ff, activation)
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.head = nn.Parameter(torch.randn(models, d_model, vocab) * d_model**-0.5)
        self.b_head = nn.Parameter(torch.zeros(models, 1, vocab))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (M, B, vocab) for contexts ``idx`` of shape (M, B, context), one batch per model."""
        m, b, c = idx.shape
        rows = torch.arange(m, device=idx.device)[:, None, None]
        e = self.embed[rows, idx].reshape(m, b, -1)  # (M, B, context * d_embed)
        h = self.norm1(torch.baddbmm(self.b_in, e, self.w_in))  # (M, B, d_model)
        h = self.norm2(h + self.ffn(h))
        return torch.baddbmm(self.b_head, h, self.head)  # (M, B, vocab)

    def select(self, index: Sequence[int]) -> GatedFFNLM:
        """A new stack holding copies of the models at ``index`` (repeats allowed), same activation."""
        index = [check_int("index[i]", i, 0, self.models - 1) for i in index]
        new = GatedFFNLM.__new__(GatedFFNLM)
        nn.Module.__init__(new)
        new.models, new.context = len(index), self.context
        new.norm1, new.norm2 = self.norm1, self.norm2
        new.ffn = _GatedFFN.__new__(_GatedFFN)
        nn.Module.__init__(new.ffn)
        new.ffn.act, new.ffn.intermediate = self.ffn.act, nn.Identity()
        picked = torch.tensor(index, device=self.embed.device)
        for owner, target in ((self, new), (self.ffn, new.ffn)):
            for name, p in owner.named_parameters(recurse=False):
                setattr(target, name, nn.Parameter(p.detach()[picked].clone()))
        return new


def set_activation(model: GatedFFNLM, activation: str, threshold: float = 0.0) -> GatedFFNLM:
    """Swap the gate's activation in place: 'silu', 'relu' or 'fatrelu' (with ``threshold``)."""
    check_choice("activation", activation, ["fatrelu", "relu", "silu"])
    if activation == "fatrelu":
        model.ffn.act = FATReLU(threshold)
    else:
        model.ffn.act = ACTIVATIONS[activation]()
    return model


def stage_plan(steps: int, fractions: Sequence[float], peaks: Sequence[float]) -> list[int]:
    """Cumulative stage ends T_1 < ... < T_S for an L1 phase of ``steps`` steps split by ``fractions``.

    ``fractions`` (one per stage, summing to 1) and ``peaks`` must have the same length; the last
    end is exactly ``steps``.
    """
    steps = check_int("steps", steps, 1)
    fractions = check_list("fractions", fractions, "a list of positive numbers", 1)
    peaks = check_list("peaks", peaks, "a list of non-negative numbers", 1)
    if len(fractions) != len(peaks):
        raise ValueError(f"fractions and peaks need one entry per stage, got {len(fractions)} and "
                         f"{len(peaks)}")  # fmt: skip
    for i, f in enumerate(fractions):
        check_float(f"fractions[{i}]", f, 0.0, 1.0, low_open=True)
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {sum(fractions)}")
    ends = [round(steps * sum(fractions[: i + 1])) for i in range(len(fractions))]
    if len(set(ends)) != len(ends) or ends[0] == 0:
        raise ValueError(f"{steps} steps are too few for {len(fractions)} stages: ends {ends}")
    return ends


def prosparse_lambda(
    step: int, ends: Sequence[int], peaks: Sequence[float], shape: str = "sine"
) -> float:
    """λ at ``step`` (counted from the start of the L1 phase, 0-based) by the paper's Algorithm 1.

    Stage 1 (steps < T_1) is the warm-up: λ = λ_1, constant. In stage i ≥ 2 (T_{i−1} ≤ step < T_i),
    with frac = (step − T_{i−1}) / (T_i − T_{i−1}):

        η = (sin(−π/2 + π·frac) + 1) / 2,        λ = λ_{i−1} + η (λ_i − λ_{i−1})

    an S-shaped ramp with zero slope at both ends; a stage with λ_i = λ_{i−1} holds λ constant.
    ``shape='linear'`` uses η = frac instead (a control of ours, not in the paper). After the last
    stage λ stays at its last peak.
    """
    check_choice("shape", shape, ["linear", "sine"])
    step = check_int("step", step, 0)
    if len(ends) != len(peaks) or not ends:
        raise ValueError("ends and peaks need one entry per stage (at least one)")
    if step < ends[0]:
        return float(peaks[0])
    for i in range(1, len(ends)):
        if step < ends[i]:
            frac = (step - ends[i - 1]) / (ends[i] - ends[i - 1])
            eta = (math.sin(-math.pi / 2 + math.pi * frac) + 1) / 2 if shape == "sine" else frac
            return float(peaks[i - 1] + eta * (peaks[i] - peaks[i - 1]))
    return float(peaks[-1])


def windows(
    corpus: CharCorpus, split: str, models: int, batch_size: int, context: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Random (context, next character) pairs, a separate batch per model: (M, B, context), (M, B)."""
    data = {"train": corpus.train, "val": corpus.val}.get(split)
    if data is None:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    starts = torch.randint(len(data) - context, (models, batch_size), generator=generator)
    offsets = torch.arange(context + 1)
    chunk = data[starts[..., None] + offsets]  # (M, B, context + 1)
    return chunk[..., :-1], chunk[..., -1]


def _intermediate_l1(output: torch.Tensor) -> torch.Tensor:
    """mean |x1| per model: (M,). Kept in the graph, so the penalty's gradient flows through it."""
    return output.abs().mean(dim=(1, 2))


def train(
    model: GatedFFNLM,
    corpus: CharCorpus,
    steps: int,
    seeds: Sequence[int],
    lam: Sequence[Sequence[float]] | None = None,
    lr: float = 3e-3,
    weight_decay: float = 0.01,
    batch_size: int = 64,
    progress: bool | None = None,
) -> torch.Tensor:
    """Train every model of the stack for ``steps`` AdamW steps; return its training losses (steps, M).

    Model m draws its batches from its own generator seeded ``seeds[m]`` (models that share a seed
    see the same text: paired comparisons). ``lam[m][t]`` is model m's L1 factor at step t (None:
    no penalty). The loss of model m is CE_m + lam[m][t] · mean |x1_m|, the mean taken over the
    batch and the d_ff units (a per-element mean, so λ does not depend on batch size or width).
    The L1 term reaches the loss through a forward hook on ``ffn.intermediate``.
    """
    steps = check_int("steps", steps, 1)
    seeds = check_list("seeds", seeds, "one seed per model", 1)
    if len(seeds) != model.models:
        raise ValueError(f"seeds needs one entry per model ({model.models}), got {len(seeds)}")
    factors = None
    if lam is not None:
        factors = torch.as_tensor(lam, dtype=torch.float32)
        if factors.shape != (model.models, steps):
            raise ValueError(f"lam must have shape (models, steps) = ({model.models}, {steps}), "
                             f"got {tuple(factors.shape)}")  # fmt: skip
    device = model.embed.device
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    recorder = ActivationRecorder(model, ["ffn.intermediate"], reduce=_intermediate_l1)
    try:
        for t in tqdm(range(steps), disable=progress is False, leave=False):
            pairs = [windows(corpus, "train", 1, batch_size, model.context, g) for g in gens]
            x = torch.cat([p[0] for p in pairs]).to(device)  # (M, B, context)
            y = torch.cat([p[1] for p in pairs]).to(device)  # (M, B)
            recorder.clear()
            logits = model(x)
            ce = nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)
            loss = ce.sum()  # independent models: the sum's gradient is each model's own
            if factors is not None:
                l1 = recorder.records["ffn.intermediate"][0]  # (M,) mean |x1| per model
                loss = loss + (factors[:, t].to(device) * l1).sum()  # + λ_m(t) ||x1_m||_1 / n
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(ce.detach().cpu())  # (M,) cross-entropy of each model
    finally:
        recorder.remove()
    return torch.stack(losses)


def _eval_windows(corpus: CharCorpus, n: int, context: int, seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    return windows(corpus, "val", 1, n, context, gen)


@torch.no_grad()
def evaluate(
    model: GatedFFNLM, corpus: CharCorpus, n: int = 4000, seed: int = 0, batch_size: int = 1000
) -> dict[str, torch.Tensor]:
    """Held-out loss and activation sparsity of every model, on the same ``n`` validation windows.

    Returns per model (tensors of shape (M,)): ``loss`` (cross-entropy, nats per character),
    ``sparsity`` (fraction of zeros in x1 over windows and units, recorded by a forward hook on
    ``ffn.intermediate``), and ``per_token`` (M, n): each window's fraction of zero units, the
    share of W_up rows and W_down columns a sparse kernel could skip for that token.
    """
    n = check_int("n", n, 1)
    x, y = _eval_windows(corpus, n, model.context, seed)
    device = model.embed.device
    losses, per_token = [], []
    was_training = model.training
    model.eval()
    zero_rows = lambda out: (out == 0).float().mean(dim=2)  # noqa: E731  (M, B) per token
    with ActivationRecorder(model, ["ffn.intermediate"], reduce=zero_rows) as recorder:
        for i in range(0, n, batch_size):
            xb = x[:, i : i + batch_size].to(device).expand(model.models, -1, -1)
            yb = y[:, i : i + batch_size].to(device).expand(model.models, -1)
            logits = model(xb)
            losses.append(nn.functional.cross_entropy(logits.transpose(1, 2), yb,
                                                      reduction="none"))  # fmt: skip
        per_token = torch.cat(recorder.records["ffn.intermediate"], dim=1)  # (M, n)
    model.train(was_training)
    return {
        "loss": torch.cat(losses, dim=1).mean(1).cpu(),
        "sparsity": per_token.mean(1).cpu(),
        "per_token": per_token.cpu(),
    }


def ffn_skip_fraction(sparsity: float | torch.Tensor) -> float | torch.Tensor:
    """Share of the gated FFN's multiply-adds a sparse kernel could skip at activation sparsity p.

    The gate x W_gate must be computed in full to know which units are zero (d·d_ff), but for the
    zero units the row of W_up and the column of W_down can be skipped (2·d·d_ff·p): the skipped
    share is 2p/3. ProSparse's two GPU operators skip exactly these two products.
    """
    if isinstance(sparsity, torch.Tensor):
        check_tensor("sparsity", sparsity)
        if ((sparsity < 0) | (sparsity > 1)).any():
            raise ValueError("sparsity must lie in [0, 1]")
        return 2 * sparsity / 3
    p = check_float("sparsity", sparsity, 0.0, 1.0)
    return 2 * p / 3


def loss_at_sparsity(sparsity: Sequence[float], loss: Sequence[float], target: float) -> float:
    """The loss a sweep would reach at activation sparsity ``target``, or NaN outside its range.

    ``sparsity`` and ``loss`` are one sweep's points (e.g. constant λ at several values, one
    replicate). Interpolates linearly in log(1 − sparsity), where sparsities near 1 are spread out,
    between the two points that bracket ``target``. Used to compare two schedules at *the same*
    sparsity, the fair comparison when their λ give different sparsities.
    """
    if len(sparsity) != len(loss) or len(sparsity) < 2:
        raise ValueError("sparsity and loss need the same length, at least two points")
    for i, p in enumerate(sparsity):
        check_float(f"sparsity[{i}]", p, 0.0, 1.0)
    target = check_float("target", target, 0.0, 1.0)

    def spread(p: float) -> float:  # −log(1 − p), with p = 1 (every unit zero) kept finite
        return -math.log1p(-min(p, 1 - 1e-9))

    pts = sorted(zip(map(spread, sparsity), loss))
    u = spread(target)
    for (u0, l0), (u1, l1) in zip(pts, pts[1:]):
        if u0 <= u <= u1:
            return float(l0 if u1 == u0 else l0 + (u - u0) / (u1 - u0) * (l1 - l0))
    return float("nan")
