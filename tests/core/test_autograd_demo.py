"""The autograd example's numbers are torch.autograd's, and the book's values give the book's loss and gradients."""

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import grad

from core.autograd_demo import BOOK_B, BOOK_W1, BOOK_X1, BOOK_Y, gradient_step, logistic_example


def torch_reference(x1, w1, b, y):
    w = torch.tensor([w1], requires_grad=True)
    bb = torch.tensor([b], requires_grad=True)
    loss = F.binary_cross_entropy(torch.sigmoid(torch.tensor([x1]) * w + bb), torch.tensor([y]))
    g_w, g_b = grad(loss, [w, bb])
    return loss.item(), g_w.item(), g_b.item()


def test_the_books_values_give_the_books_numbers():
    ex = logistic_example(BOOK_X1, BOOK_W1, BOOK_B, BOOK_Y)
    assert round(ex.loss, 4) == 0.0852
    assert round(ex.grad_w1, 4) == -0.0898
    assert round(ex.grad_b, 4) == -0.0817
    assert ex.z == pytest.approx(2.42, abs=1e-6)
    assert ex.grad_z == pytest.approx(ex.grad_b, abs=1e-7)  # b is added to z: the same gradient
    assert ex.grad_u == pytest.approx(ex.grad_z, abs=1e-7)


@pytest.mark.parametrize("x1, w1, b, y", [(1.1, 2.2, 0.0, 1.0), (-3.0, 0.5, 1.25, 0.0), (2.0, -1.5, 0.3, 0.25),
                                          (0.0, 4.0, -2.0, 1.0), (7.5, 0.1, -0.4, 0.6)])
def test_values_equal_torch_autograd_and_the_hand_formulas(x1, w1, b, y):
    ex = logistic_example(x1, w1, b, y)
    loss, g_w1, g_b = torch_reference(x1, w1, b, y)
    assert (ex.loss, ex.grad_w1, ex.grad_b) == (loss, g_w1, g_b)
    assert ex.hand_grad_w1 == pytest.approx(g_w1, abs=1e-6)
    assert ex.hand_grad_b == pytest.approx(g_b, abs=1e-6)
    assert ex.a == pytest.approx(torch.sigmoid(torch.tensor(ex.z)).item())


def test_gradient_steps_lower_the_loss():
    ex = logistic_example(BOOK_X1, BOOK_W1, BOOK_B, BOOK_Y)
    losses = [ex.loss]
    for _ in range(5):
        w1, b = gradient_step(ex, 0.5)
        ex = logistic_example(BOOK_X1, w1, b, BOOK_Y)
        losses.append(ex.loss)
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0]


def test_y_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        logistic_example(1.0, 1.0, 0.0, 1.5)
