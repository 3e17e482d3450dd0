"""Knowledge distillation (helpers.distill), against the formulas written out by hand."""

import math

import pytest
import torch
from torch import nn

from helpers import distill
from helpers.core.models import MLP


def test_logit_matching_is_the_mean_squared_logit_difference():
    s = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    t = torch.tensor([[1.0, 0.0, 3.0], [2.0, -1.0, 1.0]])
    # squared differences: 0, 4, 0, 4, 0, 9 -> mean 17/6
    assert distill.logit_matching_loss(s, t).item() == pytest.approx(17 / 6)


def test_losses_do_not_send_gradient_into_the_teacher():
    s = torch.randn(4, 5, requires_grad=True)
    t = torch.randn(4, 5, requires_grad=True)
    (distill.logit_matching_loss(s, t) + distill.soft_target_loss(s, t)).backward()
    assert t.grad is None and s.grad is not None


def test_soft_target_loss_matches_the_kl_formula_times_tau_squared():
    torch.manual_seed(0)
    s, t, tau = torch.randn(3, 4), torch.randn(3, 4), 2.5
    p_t = torch.softmax(t / tau, dim=1)
    p_s = torch.softmax(s / tau, dim=1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(dim=1).mean()  # KL(p_t ‖ p_s) per row, averaged
    assert distill.soft_target_loss(s, t, tau).item() == pytest.approx(tau**2 * kl.item(), rel=1e-5)


def test_both_losses_vanish_when_the_student_copies_the_teacher():
    t = torch.randn(6, 10)
    assert distill.logit_matching_loss(t.clone(), t).item() == 0.0
    assert distill.soft_target_loss(t.clone(), t, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    # Softmax ignores a constant shift of the logits; the MSE of logits does not.
    assert distill.soft_target_loss(t + 5.0, t).item() == pytest.approx(0.0, abs=1e-5)
    assert distill.logit_matching_loss(t + 5.0, t).item() == pytest.approx(25.0)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="same shape"):
        distill.logit_matching_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        distill.soft_target_loss(torch.zeros(2, 3), torch.zeros(2, 3), temperature=0.0)
    student, teacher, x = MLP([4, 3]), MLP([4, 3]), torch.randn(8, 4)
    with pytest.raises(ValueError, match="loss must be one of"):
        distill.distill(student, teacher, x, epochs=1, loss="l1", device="cpu")
    with pytest.raises(ValueError, match="epochs"):
        distill.distill(student, teacher, x, epochs=0, device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        distill.distill(student, teacher, x, epochs=1, batch_size=0, device="cpu")
    with pytest.raises(ValueError, match="targets have 3 rows"):
        distill.distill(student, teacher, x, epochs=1, targets=torch.zeros(3, 3), device="cpu")


def test_teacher_logits_are_the_eval_mode_outputs_and_restore_the_mode():
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    teacher.train()
    x = torch.randn(10, 5)
    logits = distill.teacher_logits(teacher, x, batch_size=3)  # chunked like a big dataset would be
    teacher.eval()
    assert torch.allclose(logits, teacher(x))
    assert not logits.requires_grad


def test_full_batch_distillation_takes_one_step_per_epoch_and_lowers_the_loss():
    torch.manual_seed(0)
    x = torch.randn(64, 6)
    teacher = MLP([6, 16, 4])
    student = MLP([6, 4])  # a linear student of a nonlinear teacher: it can only approximate it
    before = distill.logit_matching_loss(student(x), teacher(x)).item()
    history = distill.distill(student, teacher, x, epochs=50, lr=0.05, device="cpu")
    assert len(history.step_loss) == 50
    assert history.step_loss[-1] < 0.5 * before


def test_minibatch_distillation_is_reproducible_with_a_generator():
    x = torch.randn(40, 3)
    teacher = MLP([3, 5, 2])
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        student = MLP([3, 2])
        history = distill.distill(
            student,
            teacher,
            x,
            epochs=3,
            batch_size=16,
            generator=torch.Generator().manual_seed(7),
            device="cpu",
        )
        assert len(history.step_loss) == 3 * math.ceil(40 / 16)
        runs.append(student.layers[0].weight.detach().clone())
    assert torch.equal(runs[0], runs[1])


def test_a_student_that_copies_the_teacher_learns_it_exactly_with_mse():
    # Student and teacher of one architecture: logit matching drives the logits together.
    torch.manual_seed(0)
    x = torch.randn(128, 4)
    teacher, student = nn.Linear(4, 3), nn.Linear(4, 3)
    distill.distill(student, teacher, x, epochs=200, lr=0.05, device="cpu")
    assert torch.allclose(student(x), teacher(x), atol=1e-2)


def test_kl_distillation_matches_the_teacher_probabilities():
    torch.manual_seed(0)
    x = torch.randn(128, 4)
    teacher, student = nn.Linear(4, 3), nn.Linear(4, 3)
    distill.distill(
        student, teacher, x, epochs=200, lr=0.05, loss="kl", temperature=1.0, device="cpu"
    )
    assert torch.allclose(student(x).softmax(1), teacher(x).softmax(1), atol=1e-2)
