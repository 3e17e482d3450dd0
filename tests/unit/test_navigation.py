"""Path-integration task and models (notebook 08), checked against first principles."""

import math

import pytest
import torch

from helpers import masks
from helpers.papers.geometric_sparsification import navigation as nav


def _cells(seed=0, n=16):
    return nav.PlaceCells(n, sigma=0.2, box=2.2, generator=torch.Generator().manual_seed(seed))


# --- walks ------------------------------------------------------------------------------------
def test_walks_have_the_documented_shapes_and_stay_in_the_box():
    walks = nav.make_walks(200, steps=30, box=2.2, generator=torch.Generator().manual_seed(0))
    assert walks.x.shape == (200, 31, 2) and walks.y.shape == (200, 30, 2)
    assert walks.start.shape == (200, 2) and walks.velocity.shape == (200, 30, 2)
    assert walks.x[:, 0].abs().max() <= 1.1 and walks.y.abs().max() <= 1.1


def test_positions_are_the_path_integral_of_the_velocities():
    walks = nav.make_walks(100, steps=50, dt=0.05, generator=torch.Generator().manual_seed(1))
    integral = walks.start.unsqueeze(1) + walks.dt * walks.velocity.cumsum(dim=1)  # x_0 + dt Σ v
    assert torch.allclose(integral, walks.y, atol=1e-5)


def test_walls_reflect_walks_that_would_leave_the_box():
    # Steps of ~0.8 m in a 1 m box bounce off the walls all the time.
    walks = nav.make_walks(
        300, steps=40, box=1.0, dt=1.0, speed_scale=0.8, generator=torch.Generator().manual_seed(2)
    )
    assert walks.y.abs().max() <= 0.5 + 1e-6
    # 0.7 crosses one wall; 1.8 crosses two (mirrored twice: back to -0.2, moving on as before);
    # 2.9 crosses three.
    position, flipped = nav._reflect(torch.tensor([[0.7, -0.6], [1.8, 2.9]]), half=0.5)
    assert torch.allclose(position, torch.tensor([[0.3, -0.4], [-0.2, 0.1]]), atol=1e-6)
    assert flipped.tolist() == [[True, True], [False, True]]


def test_speeds_follow_the_rayleigh_distribution_away_from_walls():
    # In a huge box nothing bounces, so |v| is the Rayleigh speed: mean = scale · sqrt(pi / 2).
    walks = nav.make_walks(
        4000, steps=5, box=1e4, speed_scale=0.5, generator=torch.Generator().manual_seed(3)
    )
    mean_speed = walks.velocity.norm(dim=-1).mean().item()
    assert mean_speed == pytest.approx(0.5 * math.sqrt(math.pi / 2), rel=0.02)


def test_split_carves_the_first_walks_off():
    walks = nav.make_walks(10, 4, generator=torch.Generator().manual_seed(0))
    val, train = walks.split(3)
    assert (len(val), len(train)) == (3, 7)
    assert torch.equal(torch.cat([val.x, train.x]), walks.x)
    assert torch.equal(torch.cat([val.y, train.y]), walks.y)
    assert val.dt == train.dt == walks.dt


def test_walks_are_reproducible_with_a_generator():
    a = nav.make_walks(10, generator=torch.Generator().manual_seed(5))
    b = nav.make_walks(10, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


@pytest.mark.parametrize(
    "kwargs", [{"n": 0}, {"n": 2, "steps": 0}, {"n": 2, "box": -1.0}, {"n": 2, "dt": 0.0}]
)
def test_bad_walk_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        nav.make_walks(**kwargs)


# --- place cells ------------------------------------------------------------------------------
def test_place_code_is_a_distribution_peaked_at_the_nearest_centre():
    cells = _cells()
    code = cells(cells.centres)  # each centre's own code: (16, 16)
    assert torch.allclose(code.sum(-1), torch.ones(16))
    assert torch.equal(code.argmax(-1), torch.arange(16))
    assert torch.allclose(cells.decode(code, k=1), cells.centres)
    assert cells.centres.abs().max() <= 1.1


def test_place_code_matches_the_gaussian_formula():
    cells = _cells(n=5)
    x = torch.tensor([0.3, -0.1])
    weights = torch.exp(-((x - cells.centres) ** 2).sum(-1) / (2 * 0.2**2))
    assert torch.allclose(cells(x), weights / weights.sum(), atol=1e-6)


def test_decoding_averages_the_k_most_active_centres():
    cells = _cells(n=6)
    activity = torch.tensor([0.1, 0.9, 0.0, 0.8, 0.2, 0.7])
    assert torch.allclose(cells.decode(activity, k=3), cells.centres[[1, 3, 5]].mean(0))


@pytest.mark.parametrize("kwargs", [{"n_cells": 2}, {"sigma": 0.0}, {"box": 0.0}])
def test_bad_place_cell_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        nav.PlaceCells(**kwargs)


# --- the network ------------------------------------------------------------------------------
def test_the_rnn_computes_the_documented_recurrence():
    torch.manual_seed(0)
    cells = _cells()
    model = nav.PathIntegrationRNN(cells, hidden_size=8)
    walks = nav.make_walks(4, steps=3, generator=torch.Generator().manual_seed(0))
    h = cells(walks.start) @ model.encoder.weight.T
    expected = []
    for t in range(3):
        v = walks.velocity[:, t]
        h = torch.relu(v @ model.velocity_in.weight.T + h @ model.recurrent.weight.T)
        expected.append(h @ model.decoder.weight.T)
    assert torch.allclose(model(walks.x), torch.stack(expected, 1), atol=1e-5)


def test_the_loss_is_cross_entropy_against_the_place_code():
    torch.manual_seed(1)
    cells = _cells()
    model = nav.PathIntegrationRNN(cells, hidden_size=8)
    walks = nav.make_walks(4, steps=3, generator=torch.Generator().manual_seed(1))
    logits = model(walks.x)
    manual = -(cells(walks.y) * torch.log_softmax(logits, -1)).sum(-1).mean()
    assert model.loss(logits, walks.y).item() == pytest.approx(manual.item(), rel=1e-5)


def test_a_pruned_recurrent_weight_has_no_effect():
    torch.manual_seed(2)
    model = nav.PathIntegrationRNN(_cells(), hidden_size=6)
    masks.to_masked(model, skip=["encoder", "velocity_in", "decoder"])
    assert [name for name, _, _ in masks.prunable_weights(model)] == ["recurrent.weight"]
    mask = torch.ones(6, 6)
    mask[0, 1] = 0
    model.recurrent.set_mask("weight", mask)
    x = nav.make_walks(3, steps=4, generator=torch.Generator().manual_seed(2)).x
    before = model(x)
    with torch.no_grad():
        model.recurrent.weight[0, 1] = 100.0  # a pruned entry: whatever it holds must not matter
    assert torch.allclose(model(x), before)


def test_perfect_logits_decode_to_the_place_cell_floor():
    cells = _cells(n=32)
    walks = nav.make_walks(20, steps=5, generator=torch.Generator().manual_seed(3))
    perfect = torch.log(cells(walks.y))
    floor = (cells.decode(cells(walks.y)) - walks.y).norm(dim=-1).mean().item()
    assert nav.decoded_error(perfect, walks.y, cells) == pytest.approx(floor)


# --- the ensemble -----------------------------------------------------------------------------
def _ensemble(n_members=3, hidden=8):
    cells = _cells()
    members = []
    for seed in range(n_members):
        torch.manual_seed(seed)
        members.append(nav.PathIntegrationRNN(cells, hidden))
    return nav.PathIntegrationEnsemble(members)


def test_the_ensemble_computes_each_member_exactly():
    ensemble = _ensemble()
    walks = nav.make_walks(5, steps=4, generator=torch.Generator().manual_seed(4))
    outputs = ensemble(walks.x)
    assert outputs.shape == (3, 5, 4, 16)
    for m, member in enumerate(ensemble.members):
        assert torch.allclose(outputs[m], member(walks.x), atol=1e-5)
    total = sum(member.loss(member(walks.x), walks.y) for member in ensemble.members)
    assert ensemble.loss(outputs, walks.y).item() == pytest.approx(total.item(), rel=1e-5)


def test_training_the_ensemble_is_training_each_member_alone():
    # Adam on the summed loss moves each member exactly as Adam on its own loss would.
    ensemble = _ensemble(n_members=2)
    alone = [m for m in _ensemble(n_members=2).members]
    walks = nav.make_walks(4, steps=2, generator=torch.Generator().manual_seed(5))
    opt = torch.optim.Adam(ensemble.parameters(), lr=1e-2)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in alone]
    for _ in range(2):
        opt.zero_grad()
        ensemble.loss(ensemble(walks.x), walks.y).backward()
        opt.step()
        for member, member_opt in zip(alone, opts, strict=True):
            member_opt.zero_grad()
            member.loss(member(walks.x), walks.y).backward()
            member_opt.step()
    for together, single in zip(ensemble.members, alone, strict=True):
        assert torch.allclose(together.recurrent.weight, single.recurrent.weight, atol=1e-6)


def test_decoded_errors_of_an_ensemble_match_its_members():
    ensemble = _ensemble()
    walks = nav.make_walks(30, steps=4, generator=torch.Generator().manual_seed(6))
    errors = nav.decoded_errors(ensemble, walks, batch_size=7)  # batches of uneven size
    with torch.no_grad():
        for error, member in zip(errors, ensemble.members, strict=True):
            assert error == pytest.approx(
                nav.decoded_error(member(walks.x), walks.y, member.place_cells)
            )
    assert nav.decoded_errors(ensemble.members[0], walks) == pytest.approx([errors[0]])


def test_the_ensemble_rejects_members_that_do_not_fit_together():
    a = nav.PathIntegrationRNN(_cells(0), 8)
    with pytest.raises(ValueError, match="share one PlaceCells"):
        nav.PathIntegrationEnsemble([a, nav.PathIntegrationRNN(_cells(1), 8)])
    with pytest.raises(ValueError, match="same hidden size"):
        nav.PathIntegrationEnsemble([a, nav.PathIntegrationRNN(a.place_cells, 4)])
    with pytest.raises(ValueError):
        nav.PathIntegrationEnsemble([])


def test_models_reject_inputs_of_the_wrong_shape():
    model = nav.PathIntegrationRNN(_cells(), 8)
    with pytest.raises(ValueError, match="N, T \\+ 1, 2"):
        model(torch.zeros(4, 5, 3))
    with pytest.raises(ValueError):
        nav.PathIntegrationRNN(_cells(), 0)
