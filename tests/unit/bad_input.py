"""The shared assertion of the bad-input tests: a clear error from helpers code, nothing changed.

``assert_rejects`` checks four things at once:

1. the exception is a ValueError or TypeError;
2. its message names the argument and says what is allowed;
3. it is raised by ``helpers`` code (the innermost traceback frame lies under ``helpers/``), not
   from deep inside torch, networkx or Python's builtins called on a bad value;
4. every object in ``unchanged`` (models, optimizers, tensors, torch generators, ``random.Random``
   generators) is bit-for-bit as before: a model's tensors, ``requires_grad`` flags, the train/eval
   mode of every submodule and its hooks; an optimizer's state and its step hooks.

The test files ``test_bad_input*.py`` import it from here.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import helpers

HELPERS_DIR = Path(helpers.__file__).resolve().parent


def _state(obj: Any) -> Any:
    """A deep, comparable copy of everything a helper could change in place."""
    if isinstance(obj, nn.Module):
        layers = [(name, type(m).__name__) for name, m in obj.named_modules()]
        tensors = {k: v.detach().clone() for k, v in obj.state_dict().items()}
        devices = sorted({str(t.device) for t in tensors.values()})
        grads = [p.requires_grad for p in obj.parameters()]
        modes = [m.training for m in obj.modules()]  # every submodule's own train/eval mode
        hooks = [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in obj.modules()]
        return layers, tensors, devices, modes, grads, hooks
    if isinstance(obj, torch.optim.Optimizer):
        return copy.deepcopy(obj.state_dict()), len(obj._optimizer_step_post_hooks)
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, random.Random):
        return obj.getstate()
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    return copy.deepcopy(obj)


def _same(a: Any, b: Any) -> bool:
    """Structural equality with ``torch.equal`` for tensors (NaN-free states compare exactly)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def assert_rejects(
    call: Callable[[], Any], name: str, allowed: str, unchanged: tuple[Any, ...] = ()
) -> BaseException:
    """``call()`` must raise ValueError/TypeError from helpers code, naming ``name`` and saying
    ``allowed``, and leave every object in ``unchanged`` exactly as it was."""
    before = [_state(obj) for obj in unchanged]
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    message = str(info.value)
    assert name in message, f"message does not name {name!r}: {message}"
    assert allowed in message, f"message does not say what is allowed ({allowed!r}): {message}"
    tb = info.tb
    while tb.tb_next is not None:
        tb = tb.tb_next
    origin = Path(tb.tb_frame.f_code.co_filename).resolve()
    assert HELPERS_DIR in origin.parents, f"raised from {origin}:{tb.tb_lineno}, not helpers/"
    for obj, old in zip(unchanged, before):
        assert _same(old, _state(obj)), f"{type(obj).__name__} was changed by a failing call"
    return info.value
