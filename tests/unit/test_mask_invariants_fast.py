"""The mask invariants of STANDARD.md on the paths a fast masked layer must not break.

Each test compares with first principles: a plain PyTorch layer with the same stored weights that
computes with ``weight * mask``, and the gradients autograd gives it. Written for part 5 of the issue
"Masked training as fast as dense" (helpers.masked, module docstring).
"""

import copy

import pytest
import torch
from torch import nn

from helpers import masks, prune
from helpers.core.masked import MaskedMixin

LAYERS = {
    "linear": (lambda: nn.Linear(6, 5), lambda: torch.randn(4, 6)),
    "conv1d": (lambda: nn.Conv1d(2, 3, 3), lambda: torch.randn(4, 2, 9)),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3), lambda: torch.randn(4, 2, 6, 6)),
    "rnn_tanh": (lambda: nn.RNN(3, 5, batch_first=True), lambda: torch.randn(4, 7, 3)),
    "rnn_relu": (
        lambda: nn.RNN(3, 5, batch_first=True, nonlinearity="relu"),
        lambda: torch.randn(4, 7, 3),
    ),
    "gru": (
        lambda: nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True),
        lambda: torch.randn(4, 7, 3),
    ),
    "lstm": (lambda: nn.LSTM(3, 5, num_layers=2, batch_first=True), lambda: torch.randn(4, 7, 3)),
    "lstm_proj": (
        lambda: nn.LSTM(3, 5, proj_size=2, batch_first=True),
        lambda: torch.randn(4, 7, 3),
    ),
}
OPTIMIZERS = {
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
    "adam": lambda p: torch.optim.Adam(p, lr=0.05),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.5),
}
# The CPU LSTM kernel with projections warns that it uses its slower path; that is expected.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")


def out(y):
    """The output tensor of a layer (recurrent layers return (output, state))."""
    return y[0] if isinstance(y, tuple) else y


def pruned_layer(kind, seed=0, sparsity=0.6):
    """A masked layer of ``kind`` with random masks, and an input for it."""
    make, data = LAYERS[kind]
    torch.manual_seed(seed)
    layer = masks.to_masked(make())
    prune.random_prune(layer, sparsity, generator=torch.Generator().manual_seed(seed))
    return layer, data()


def reference(layer):
    """First principles: ``forward(x)`` of the plain layer computing with ``stored * mask``.

    ``stored`` are leaf copies of the masked layer's stored weights; after a backward through
    ``forward`` their ``.grad`` is the gradient of ``weight * mask``, the one the layer must show.
    """
    plain = masks.fold(layer)
    stored = {n: getattr(layer, n).detach().clone().requires_grad_() for n in layer.mask_names}

    def forward(x):
        weights = {n: w * layer.get_mask(n) for n, w in stored.items()}
        return out(torch.func.functional_call(plain, weights, (x,)))

    return forward, stored


def assert_grads_match_reference(layer, stored):
    """``layer``'s gradients are exactly 0 at pruned entries and equal those of ``weight * mask``."""
    for name in layer.mask_names:
        grad = getattr(layer, name).grad
        assert grad is not None, name
        assert torch.all(grad[layer.get_mask(name) == 0] == 0), f"{name}: pruned gradient"
        torch.testing.assert_close(grad, stored[name].grad, rtol=0, atol=0)


def assert_stored_pruned_are_zero(layer, when=""):
    for name in layer.mask_names:
        stored = getattr(layer, name)
        assert torch.all(stored[layer.get_mask(name) == 0] == 0), f"{when} {name}: revived"


def weighted_sum(y):
    return (y * torch.linspace(-1, 1, y.shape[-1], dtype=y.dtype)).sum()


@pytest.mark.parametrize("kind", LAYERS)
def test_grad_is_exactly_zero_at_pruned_entries_right_after_backward(kind):
    layer, x = pruned_layer(kind)
    forward, stored = reference(layer)
    y = out(layer(x))
    torch.testing.assert_close(y, forward(x), rtol=0, atol=0)
    weighted_sum(y).backward()
    weighted_sum(forward(x)).backward()
    assert_grads_match_reference(layer, stored)


@pytest.mark.parametrize("kind", ["linear", "conv2d", "lstm"])
def test_autograd_grad_also_sees_zero_at_pruned_entries(kind):
    """SNIP- or GraSP-style scores often call torch.autograd.grad instead of reading .grad."""
    layer, x = pruned_layer(kind, seed=1)
    weights = [getattr(layer, n) for n in layer.mask_names]
    grads = torch.autograd.grad(out(layer(x)).square().sum(), weights)
    for name, grad in zip(layer.mask_names, grads):
        assert torch.all(grad[layer.get_mask(name) == 0] == 0), name
        assert grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", ["linear", "conv1d", "gru"])
def test_gradient_accumulation_over_two_backwards(kind):
    layer, x = pruned_layer(kind, seed=2)
    forward, stored = reference(layer)
    for scale in (1.0, -3.0):  # two micro-batches before one optimizer step
        (scale * out(layer(x)).square().sum()).backward()
        (scale * forward(x).square().sum()).backward()
    assert_grads_match_reference(layer, stored)


def test_gradient_clipping_sees_only_kept_gradients():
    """clip_grad_norm_ in fit reads .grad right after backward: pruned entries must add nothing."""
    layer, x = pruned_layer("linear", seed=3)
    forward, stored = reference(layer)
    out(layer(x)).sum().backward()
    forward(x).sum().backward()
    norm = nn.utils.clip_grad_norm_([layer.weight], max_norm=1e9)
    assert float(norm) == pytest.approx(float(stored["weight"].grad.norm()), rel=1e-6)


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("kind", ["linear", "conv2d", "rnn_relu", "lstm"])
def test_stored_pruned_weights_are_zero_after_every_step(kind, opt):
    """A hand-written loop with keep_masks_after_steps; pruned mid-training (optimizer state set)."""
    layer, x = pruned_layer(kind, seed=4, sparsity=0.0)
    optimizer = OPTIMIZERS[opt](layer.parameters())
    masks.keep_masks_after_steps(optimizer, layer)
    for step in range(6):
        if step == 2:  # momentum and Adam's moments are non-zero everywhere by now
            prune.magnitude_prune(layer, 0.5)
        optimizer.zero_grad()
        out(layer(x)).square().mean().backward()
        optimizer.step()
        assert_stored_pruned_are_zero(layer, f"step {step}:")
    forward, _ = reference(layer)
    torch.testing.assert_close(out(layer(x)), forward(x), rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["linear", "lstm"])
def test_keep_masks_hook_stays_exact_after_model_to_float64(kind):
    layer, x = pruned_layer(kind, seed=5, sparsity=0.0)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    masks.keep_masks_after_steps(optimizer, layer)  # registered before the conversion
    for _ in range(2):
        optimizer.zero_grad()
        out(layer(x)).square().mean().backward()
        optimizer.step()
    layer.to(torch.float64)  # new mask tensors; the parameters keep their identity
    x = x.double()
    prune.magnitude_prune(layer, 0.5)  # written into the new float64 masks
    for step in range(2):
        optimizer.zero_grad()
        out(layer(x)).square().mean().backward()
        optimizer.step()  # momentum revives pruned weights unless the hook reads the new masks
        assert all(getattr(layer, n).dtype == torch.float64 for n in layer.mask_names)
        assert_stored_pruned_are_zero(layer, f"step {step}:")


def test_forward_ignores_a_value_written_by_hand_into_a_pruned_entry():
    layer, x = pruned_layer("linear", seed=6)
    forward, stored = reference(layer)
    pruned = layer.weight_mask == 0
    with torch.no_grad():
        layer.weight[pruned] = 5.0  # a student's experiment; the mask still says pruned
    y = out(layer(x))
    torch.testing.assert_close(y, forward(x), rtol=0, atol=0)
    y.sum().backward()
    forward(x).sum().backward()
    assert_grads_match_reference(layer, stored)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    masks.keep_masks_after_steps(optimizer, layer)
    optimizer.step()  # the next step with the hook (or apply_mask_) puts it back to 0
    assert_stored_pruned_are_zero(layer)


def test_forward_ignores_pruned_entries_revived_by_an_optimizer_without_the_hook():
    """The optimizer trap without keep_masks_after_steps: the forward pass still masks."""
    layer, x = pruned_layer("conv1d", seed=7, sparsity=0.0)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    for _ in range(2):  # dense steps fill Adam's moments
        optimizer.zero_grad()
        out(layer(x)).sum().backward()
        optimizer.step()
    prune.magnitude_prune(layer, 0.5)
    optimizer.zero_grad()
    out(layer(x)).sum().backward()
    optimizer.step()
    pruned = layer.weight_mask == 0
    assert (layer.weight[pruned] != 0).any(), "expected Adam to move stored pruned weights"
    expected = nn.functional.conv1d(x, layer.weight.detach() * layer.weight_mask, layer.bias)
    torch.testing.assert_close(out(layer(x)), expected, rtol=0, atol=0)


def test_forward_and_gradients_follow_a_mask_edited_in_place():
    layer, x = pruned_layer("conv2d", seed=8)
    with torch.no_grad():
        layer.weight_mask[0].zero_()  # a student prunes output channel 0 by hand
    forward, stored = reference(layer)
    torch.testing.assert_close(out(layer(x)), forward(x), rtol=0, atol=0)
    out(layer(x)).sum().backward()
    forward(x).sum().backward()
    assert_grads_match_reference(layer, stored)


@pytest.mark.parametrize("kind", ["linear", "conv2d", "lstm"])
def test_load_state_dict_with_nonzero_pruned_entries(kind):
    layer, x = pruned_layer(kind, seed=9)
    state = layer.state_dict()
    for name in layer.mask_names:  # a checkpoint saved without re-zeroing, say
        state[name] = state[name] + (state[f"{name}_mask"] == 0).to(state[name].dtype) * 7.0
    fresh = masks.to_masked(LAYERS[kind][0]())
    fresh.load_state_dict(state)
    for name in fresh.mask_names:
        assert torch.equal(fresh.get_mask(name), layer.get_mask(name)), name
    assert_stored_pruned_are_zero(fresh, "after load:")
    forward, stored = reference(layer)
    torch.testing.assert_close(out(fresh(x)), forward(x), rtol=0, atol=0)
    out(fresh(x)).sum().backward()
    forward(x).sum().backward()
    assert_grads_match_reference(fresh, stored)


@pytest.mark.parametrize("kind", ["linear", "conv1d", "gru"])
def test_deepcopy_is_exact_and_independent(kind):
    layer, x = pruned_layer(kind, seed=10)
    out(layer(x)).sum().backward()
    clone = copy.deepcopy(layer)
    prune.magnitude_prune(clone, 0.9)  # the clone's masks now differ from the original's
    assert not all(torch.equal(layer.get_mask(n), clone.get_mask(n)) for n in layer.mask_names)
    for model in (layer, clone):
        model.zero_grad()
        forward, stored = reference(model)
        torch.testing.assert_close(out(model(x)), forward(x), rtol=0, atol=0)
        out(model(x)).sum().backward()
        forward(x).sum().backward()
        assert_grads_match_reference(model, stored)
        assert_stored_pruned_are_zero(model)


@pytest.mark.parametrize("kind", ["linear", "conv2d", "gru", "lstm"])
def test_fold_equals_the_masked_layer_bit_for_bit(kind):
    layer, x = pruned_layer(kind, seed=12)
    folded = masks.fold(layer)
    assert not isinstance(folded, MaskedMixin)
    torch.testing.assert_close(out(folded(x)), out(layer(x)), rtol=0, atol=0)
    for name in layer.mask_names:
        assert torch.all(getattr(folded, name)[layer.get_mask(name) == 0] == 0), name


@pytest.mark.parametrize("kind", ["linear", "gru", "lstm"])
def test_functional_call_masks_the_tensors_handed_in(kind):
    """torch.func hands in its own weights (here non-zero at every pruned entry): they are masked."""
    layer, x = pruned_layer(kind, seed=13)
    params = {k: (v.detach() + 1.0).requires_grad_() for k, v in layer.named_parameters()}
    y = out(torch.func.functional_call(layer, params, (x,)))
    plain = masks.fold(layer)
    weights = {k: v * layer.get_mask(k) if k in layer.mask_names else v for k, v in params.items()}
    torch.testing.assert_close(y, out(torch.func.functional_call(plain, weights, (x,))))
    grads = torch.autograd.grad(y.sum(), [params[n] for n in layer.mask_names])
    for name, grad in zip(layer.mask_names, grads):
        assert torch.all(grad[layer.get_mask(name) == 0] == 0), name


def test_vmap_ensemble_of_masked_layers():
    """Several replicates trained as one batched model (stack_module_state and vmap)."""
    layers = [pruned_layer("linear", seed=s)[0] for s in range(3)]
    x = torch.randn(4, 6)
    params, buffers = torch.func.stack_module_state(layers)
    params = {k: v + 1.0 for k, v in params.items()}  # non-zero at every pruned entry
    base = copy.deepcopy(layers[0]).to("meta")

    def loss(p, b):
        return torch.func.functional_call(base, (p, b), (x,)).square().sum()

    grads = torch.vmap(torch.func.grad(loss))(params, buffers)
    for i, layer in enumerate(layers):
        assert torch.all(grads["weight"][i][layer.weight_mask == 0] == 0)
        one = ({k: v[i] for k, v in params.items()}, {k: v[i] for k, v in buffers.items()})
        weight = params["weight"][i] * layer.weight_mask
        expected = nn.functional.linear(x, weight, params["bias"][i])
        torch.testing.assert_close(torch.func.functional_call(base, one, (x,)), expected)


def test_soft_mask_gradients_are_zero_at_hard_pruned_entries():
    layer, x = pruned_layer("linear", seed=14)
    logits = layer.enable_soft_mask("weight", init=0.5)
    with torch.no_grad():
        logits.normal_()
    y = out(layer(x))
    torch.testing.assert_close(y, nn.functional.linear(x, layer.effective("weight"), layer.bias))
    y.sum().backward()
    assert torch.all(layer.weight.grad[layer.weight_mask == 0] == 0)
    assert logits.grad is not None and torch.all(logits.grad[layer.weight_mask == 0] == 0)
