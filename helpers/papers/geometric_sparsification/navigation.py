"""Path integration: random walks in a box, place-cell targets and a small ReLU RNN that navigates.

Introduced in notebook 08 (geometric sparsification). The task follows the grid-cell RNNs of Sorscher
et al. that Mackey et al. (arXiv:2406.06290) sparsify, shrunk to laptop size:

- an animal walks randomly in a square box of side ``box`` metres (smooth turns, walls reflect it);
- the network sees where the walk starts (as place-cell activity) and then only its velocity;
- at every step it must say where the animal is, as a distribution over ``n_cells`` place cells:
  ``p_k(x) = softmax_k(-|x - c_k|^2 / (2 sigma^2))`` (the target), trained with cross-entropy;
- the *decoded position error* is the distance between the true position and the mean centre of
  the 3 most active predicted place cells (the official code's metric), in metres.

``make_walks`` returns an input tensor ``x`` of shape (N, T + 1, 2) (row 0: the start position,
rows 1..T: the velocity during each step, m/s) and the true positions ``y`` (N, T, 2), so the generic
``helpers.core.train.fit`` trains on it with ``loss_fn=model.loss``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from helpers.core.masked import MaskedMixin
from helpers.plumbing.params import (
    check_float,
    check_generator,
    check_int,
    check_list,
    check_tensor,
    check_type,
)
from helpers.plumbing.runtime import model_mode

__all__ = [
    "PlaceCells",
    "Walks",
    "make_walks",
    "PathIntegrationRNN",
    "PathIntegrationEnsemble",
    "decoded_error",
    "decoded_errors",
]


class PlaceCells(nn.Module):
    """``n_cells`` place cells with centres uniform in the box and Gaussian tuning of width ``sigma``.

    The centres are a buffer, so they move with the model to any device and are saved with it.
    Calling the module turns positions (..., 2) into place-cell distributions (..., n_cells).
    """

    def __init__(
        self,
        n_cells: int = 64,
        sigma: float = 0.2,
        box: float = 2.2,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int("n_cells", n_cells, 3)  # 3 cells are decoded
        check_float("sigma", sigma, 0.0, low_open=True, finite=True)  # a width in metres
        check_float("box", box, 0.0, low_open=True, finite=True)  # a side length in metres
        check_generator("generator", generator)
        self.sigma, self.box = float(sigma), float(box)
        centres = (torch.rand(n_cells, 2, generator=generator) - 0.5) * box  # uniform in the box
        self.register_buffer("centres", centres)

    @property
    def n_cells(self) -> int:
        return self.centres.shape[0]

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """p_k(x) = softmax_k(-|x - c_k|^2 / (2 sigma^2)) for positions (..., 2) → (..., n_cells)."""
        check_tensor("positions", positions, min_dim=1)
        if positions.shape[-1] != 2:
            raise ValueError(
                f"positions must end in a dimension of size 2 (x, y), got {tuple(positions.shape)}"
            )
        squared = (positions.unsqueeze(-2) - self.centres).pow(2).sum(-1)  # (..., n_cells)
        return torch.softmax(-squared / (2 * self.sigma**2), dim=-1)

    def decode(self, activity: torch.Tensor, k: int = 3) -> torch.Tensor:
        """Position read out from activity (..., n_cells): the mean centre of the ``k`` most active cells."""
        check_int("k", k, 1, self.n_cells)
        self.check_activity("activity", activity)
        top = activity.topk(k, dim=-1).indices  # (..., k)
        return self.centres[top].mean(-2)  # (..., 2)

    def check_activity(self, name: str, activity: torch.Tensor) -> None:
        """Raise ValueError unless ``activity`` is a tensor (..., n_cells) (logits or probabilities)."""
        check_tensor(name, activity, min_dim=1)
        if activity.shape[-1] != self.n_cells:
            raise ValueError(
                f"{name} must end in a dimension of size n_cells={self.n_cells}, "
                f"got {tuple(activity.shape)}"
            )


@dataclass
class Walks:
    """Random walks as network inputs and targets.

    ``x`` (N, T + 1, 2): row 0 is the start position (m), rows 1..T the velocity during each step
    (m/s); ``y`` (N, T, 2): the position after each step (m). By construction
    ``y[:, t] = x[:, 0] + dt · x[:, 1 : t + 2].sum(1)``: the path integral the network must learn.
    """

    x: torch.Tensor
    y: torch.Tensor
    dt: float

    @property
    def start(self) -> torch.Tensor:
        return self.x[:, 0]

    @property
    def velocity(self) -> torch.Tensor:
        return self.x[:, 1:]

    def __len__(self) -> int:
        return len(self.x)

    def split(self, n: int) -> tuple[Walks, Walks]:
        """The first ``n`` walks and the rest: a validation split carved from the training walks."""
        check_int("n", n, 1, len(self) - 1)  # both parts non-empty
        return (
            Walks(self.x[:n], self.y[:n], self.dt),
            Walks(self.x[n:], self.y[n:], self.dt),
        )


def _reflect(position: torch.Tensor, half: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold coordinates back into [-half, half] as mirrors would; return them and whether each flipped.

    A coordinate that crossed k walls (k = floor((p + half) / box)) ends up mirrored when k is odd,
    and then that component of the velocity reverses.
    """
    box = 2 * half
    shifted = position + half  # inside the box: [0, box]
    crossings = torch.floor(shifted / box)
    folded = shifted - crossings * box  # [0, box)
    flipped = crossings.remainder(2) == 1
    folded = torch.where(flipped, box - folded, folded)
    return folded - half, flipped


def make_walks(
    n: int,
    steps: int = 20,
    box: float = 2.2,
    dt: float = 0.02,
    speed_scale: float = 0.13 * 2 * math.pi,
    turn_sd: float = 5.76 * 2,
    generator: torch.Generator | None = None,
) -> Walks:
    """``n`` random walks of ``steps`` steps in a ``box`` × ``box`` square centred on the origin.

    The walk of Sorscher et al. (also in the paper's code): speed drawn each step from a Rayleigh
    distribution of scale ``speed_scale`` (m/s), heading turning by N(0, (turn_sd · dt)^2) radians
    per step. Instead of their wall-avoidance rule a wall reflects the walk (mirror the position,
    reverse that velocity component), so dt × the velocities always sum exactly to the position.
    """
    for name, value in (("n", n), ("steps", steps)):
        check_int(name, value, 1)
    for name, value in (("box", box), ("dt", dt), ("speed_scale", speed_scale)):
        check_float(name, value, 0.0, low_open=True, finite=True)
    check_float("turn_sd", turn_sd, 0.0, finite=True)
    check_generator("generator", generator)
    half = box / 2
    position = (torch.rand(n, 2, generator=generator) - 0.5) * box
    heading = torch.rand(n, generator=generator) * 2 * math.pi
    start = position.clone()
    velocities, positions = [], []
    for _ in range(steps):
        # Rayleigh speed by inversion: scale * sqrt(-2 ln U), U in (0, 1].
        uniform = 1.0 - torch.rand(n, generator=generator)
        speed = speed_scale * torch.sqrt(-2.0 * torch.log(uniform))
        direction = torch.stack([torch.cos(heading), torch.sin(heading)], dim=-1)  # (n, 2)
        proposed = position + dt * speed.unsqueeze(-1) * direction
        new, flipped = _reflect(proposed, half)
        # A bounce off a vertical wall reverses the x component of the heading (theta -> pi - theta),
        # off a horizontal wall the y component (theta -> -theta).
        heading = torch.where(flipped[:, 0], math.pi - heading, heading)
        heading = torch.where(flipped[:, 1], -heading, heading)
        heading = heading + dt * turn_sd * torch.randn(n, generator=generator)
        # The velocity that moved it there (bounces included), so dt · Σ v is exactly the path.
        velocities.append((new - position) / dt)
        positions.append(new)
        position = new
    x = torch.cat([start.unsqueeze(1), torch.stack(velocities, dim=1)], dim=1)  # (n, T + 1, 2)
    return Walks(x=x, y=torch.stack(positions, dim=1), dt=dt)  # y: (n, T, 2)


def _check_walks(x: torch.Tensor) -> None:
    check_tensor("x", x)
    if x.dim() != 3 or x.shape[-1] != 2 or x.shape[1] < 2:
        raise ValueError(
            f"x must have shape (N, T + 1, 2) with T >= 1 (start, then steps), got {tuple(x.shape)}"
        )


class PathIntegrationRNN(nn.Module):
    """A ReLU RNN that integrates velocity: the network of the paper's navigation experiment.

    h_0 = W_enc p(x_0),   h_t = ReLU(W_ih v_t + W_hh h_{t-1}),   logits_t = W_dec h_t

    with no biases, as in the official code. The recurrence is written out as a loop over time (a
    handful of steps) so each matrix is its own ``nn.Linear``: ``recurrent`` is W_hh, the one matrix
    that notebook 08 regularises and prunes; ``to_masked(model, skip=[...])`` can leave the others dense.
    """

    def __init__(self, place_cells: PlaceCells, hidden_size: int = 64) -> None:
        super().__init__()
        check_type("place_cells", place_cells, PlaceCells, "a PlaceCells module")
        check_int("hidden_size", hidden_size, 1)
        self.place_cells = place_cells
        n_cells = place_cells.n_cells
        self.encoder = nn.Linear(n_cells, hidden_size, bias=False)  # W_enc: start code -> h_0
        self.velocity_in = nn.Linear(2, hidden_size, bias=False)  # W_ih
        self.recurrent = nn.Linear(hidden_size, hidden_size, bias=False)  # W_hh
        self.decoder = nn.Linear(hidden_size, n_cells, bias=False)  # W_dec: h_t -> place logits

    @property
    def hidden_size(self) -> int:
        return self.recurrent.out_features

    def recurrent_weight(self) -> torch.Tensor:
        """W_hh as the network computes with it: weight × mask once ``recurrent`` is a masked layer."""
        if isinstance(self.recurrent, MaskedMixin):
            return self.recurrent.effective("weight")
        return self.recurrent.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Place-cell logits (N, T, n_cells) for walks ``x`` (N, T + 1, 2) as made by ``make_walks``."""
        _check_walks(x)
        hidden = self.encoder(self.place_cells(x[:, 0]))  # h_0: (N, H)
        drive = self.velocity_in(x[:, 1:])  # W_ih v_t for every step at once: (N, T, H)
        w_hh = self.recurrent_weight()  # (H, H), masked once per forward rather than once per step
        states = []
        # unbind, not drive[:, t]: indexing would make backward build a full-size zero tensor per step
        for drive_t in drive.unbind(dim=1):  # T tensors (N, H)
            hidden = F.relu(drive_t + hidden @ w_hh.T)  # h_t = ReLU(W_ih v_t + W_hh h_{t-1})
            states.append(hidden)
        return self.decoder(torch.stack(states, dim=1))  # (N, T, H) -> (N, T, n_cells)

    def loss(self, logits: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Cross-entropy between predicted and true place-cell distributions, -Σ_k p_k log q_k, averaged."""
        _check_loss_args(self.place_cells, logits, positions, members=None)
        targets = self.place_cells(positions)  # (N, T, n_cells)
        return F.cross_entropy(logits.flatten(0, -2), targets.flatten(0, -2))


def _check_loss_args(
    place_cells: PlaceCells, logits: torch.Tensor, positions: torch.Tensor, members: int | None
) -> None:
    """logits (N, T, n_cells), or (M, N, T, n_cells) for ``members`` M, and positions (N, T, 2)."""
    place_cells.check_activity("logits", logits)
    check_tensor("positions", positions, dim=3)
    expected = (*positions.shape[:-1], place_cells.n_cells)
    if members is not None:
        expected = (members, *expected)
    if positions.shape[-1] != 2 or logits.shape != expected:
        raise ValueError(
            f"logits {tuple(logits.shape)} and positions {tuple(positions.shape)} do not match: "
            f"positions must be (N, T, 2) and logits {'(M, ' if members else '('}N, T, n_cells)"
        )


class PathIntegrationEnsemble(nn.Module):
    """Several ``PathIntegrationRNN`` members trained side by side as one batch of models.

    Notebook 08 trains 5 conditions × 3 seeds (+ dense baselines). One after another, each small
    network spends its time on per-operation overhead; stacked, every step is one batched matrix
    product for all of them. Nothing is shared but the input batch: ``loss`` is the *sum* of the
    members' losses, so each member's gradient comes from its own loss alone, and Adam scales every
    parameter on its own, so this is exactly M independent trainings that see the same mini-batches.
    (Do not clip the total gradient norm: that would couple the members.)

    The members stay ordinary ``PathIntegrationRNN`` modules: mask them, prune them, penalise them
    and evaluate them one by one. Output: logits of shape (M, N, T, n_cells).
    """

    def __init__(self, members: Sequence[PathIntegrationRNN]) -> None:
        super().__init__()
        members = check_list("members", members, "a non-empty list of PathIntegrationRNN")
        if not members or not all(isinstance(m, PathIntegrationRNN) for m in members):
            raise ValueError("members must be a non-empty list of PathIntegrationRNN")
        first = members[0]
        if any(m.place_cells is not first.place_cells for m in members):
            raise ValueError("all members must share one PlaceCells module (the same targets)")
        if any(m.hidden_size != first.hidden_size for m in members):
            raise ValueError(
                f"all members need the same hidden size, got {[m.hidden_size for m in members]}"
            )
        self.members = nn.ModuleList(members)
        self.place_cells = first.place_cells

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (M, N, T, n_cells) of every member for walks ``x`` (N, T + 1, 2)."""
        _check_walks(x)
        w_enc = torch.stack([m.encoder.weight for m in self.members])  # (M, H, P)
        w_ih = torch.stack([m.velocity_in.weight for m in self.members])  # (M, H, 2)
        w_hh = torch.stack([m.recurrent_weight() for m in self.members])  # (M, H, H)
        w_dec = torch.stack([m.decoder.weight for m in self.members])  # (M, P, H)
        n, steps = x.shape[0], x.shape[1] - 1
        hidden = torch.einsum("mhp,np->mnh", w_enc, self.place_cells(x[:, 0]))  # h_0: (M, N, H)
        velocities = x[:, 1:].transpose(0, 1)  # (T, N, 2)
        drive = torch.einsum("mhi,tni->tmnh", w_ih, velocities)  # W_ih v_t: (T, M, N, H)
        w_hh_t = w_hh.transpose(1, 2)  # (M, H, H), so that hidden @ w_hh_t = (W_hh h)^T
        states = []
        for drive_t in drive.unbind(dim=0):  # T tensors (M, N, H)
            hidden = F.relu(drive_t + hidden @ w_hh_t)  # h_t = ReLU(W_ih v_t + W_hh h_{t-1})
            states.append(hidden)
        g = torch.stack(states, dim=2).reshape(len(self.members), n * steps, -1)  # (M, N·T, H)
        logits = g @ w_dec.transpose(1, 2)  # (M, N·T, P)
        return logits.view(len(self.members), n, steps, -1)  # (M, N, T, P)

    def loss(self, logits: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Σ_m of member m's cross-entropy (each a mean over walks and steps, as ``PathIntegrationRNN.loss``)."""
        _check_loss_args(self.place_cells, logits, positions, members=len(self.members))
        targets = self.place_cells(positions)  # (N, T, P), the same for every member
        per_member = -(targets * logits.log_softmax(dim=-1)).sum(-1).mean(dim=(1, 2))  # (M,)
        return per_member.sum()


@torch.no_grad()
def decoded_errors(model: nn.Module, walks: Walks, batch_size: int = 1024) -> list[float]:
    """Decoded position error (m) on ``walks`` of each member of an ensemble (or of one model: a 1-list)."""
    allowed = (PathIntegrationRNN, PathIntegrationEnsemble)
    check_type("model", model, allowed, "a PathIntegrationRNN or PathIntegrationEnsemble")
    check_type("walks", walks, Walks, "a Walks (from make_walks)")
    check_int("batch_size", batch_size, 1)
    device = model.place_cells.centres.device
    total: torch.Tensor | None = None
    with model_mode(model, training=False):
        for start in range(0, len(walks.x), batch_size):
            x = walks.x[start : start + batch_size].to(device)
            y = walks.y[start : start + batch_size].to(device)
            logits = model(x)
            if logits.dim() == 3:
                logits = logits.unsqueeze(0)  # one model: (1, N, T, P)
            decoded = model.place_cells.decode(logits)  # (M, N, T, 2)
            summed = (decoded - y).norm(dim=-1).sum(dim=(1, 2))  # (M,)
            total = summed if total is None else total + summed
    return (total / walks.y[..., 0].numel()).tolist()


def decoded_error(logits: torch.Tensor, positions: torch.Tensor, place_cells: PlaceCells) -> float:
    """Mean distance (m) between the true positions and the top-3 decoded ones (the paper's metric)."""
    check_type("place_cells", place_cells, PlaceCells, "a PlaceCells module")
    place_cells.check_activity("logits", logits)
    check_tensor("positions", positions, min_dim=1)
    if positions.shape[-1] != 2 or logits.shape[:-1] != positions.shape[:-1]:
        raise ValueError(
            f"logits {tuple(logits.shape)} and positions {tuple(positions.shape)} do not match: "
            "positions must be (N, T, 2) and logits (N, T, n_cells)"
        )
    decoded = place_cells.decode(logits.to(place_cells.centres.device))
    return (decoded - positions.to(decoded.device)).norm(dim=-1).mean().item()
