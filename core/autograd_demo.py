"""Appendix A's first autograd example, logistic regression with one input, as plain numbers for a view to show.

torch is imported inside the functions: the window imports this module before torch has loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

# The book's values: y = 1.0, x1 = 1.1, w1 = 2.2, b = 0.0.
BOOK_X1, BOOK_W1, BOOK_B, BOOK_Y = 1.1, 2.2, 0.0, 1.0


@dataclass(frozen=True)
class LogisticExample:
    """One forward and backward pass of `loss = BCE(sigmoid(x1 * w1 + b), y)`; every value a Python float.

    The gradients are torch.autograd's, in float32 as the book's tensors are; `hand_*` are the
    formulas derived by hand, dL/dw1 = (a - y) * x1 and dL/db = a - y, which agree with autograd
    except where the sigmoid saturates (a rounds to 0 or 1 in float32 and BCE's gradient is clamped).
    """

    x1: float
    w1: float
    b: float
    y: float
    u: float  # x1 * w1
    z: float  # u + b
    a: float  # sigmoid(z)
    loss: float
    grad_w1: float  # dL/dw1
    grad_b: float  # dL/db
    grad_u: float  # dL/du
    grad_z: float  # dL/dz
    grad_a: float  # dL/da
    hand_grad_w1: float  # (a - y) * x1
    hand_grad_b: float  # a - y


def logistic_example(x1: float, w1: float, b: float, y: float) -> LogisticExample:
    """Run the book's example for these values: `torch.autograd.grad(loss, [w1, b])` on float32 tensors.

    Raises ValueError when y is outside [0, 1] (binary cross-entropy's target is a probability).
    """
    if not 0.0 <= y <= 1.0:
        raise ValueError(f"y must be between 0 and 1 (a probability), got {y}")
    import torch
    import torch.nn.functional as F
    from torch.autograd import grad

    y_t = torch.tensor([y])
    x1_t = torch.tensor([x1])
    w1_t = torch.tensor([w1], requires_grad=True)
    b_t = torch.tensor([b], requires_grad=True)
    u = x1_t * w1_t
    z = u + b_t
    a = torch.sigmoid(z)
    loss = F.binary_cross_entropy(a, y_t)
    # The intermediate results' gradients too, for the graph: autograd.grad takes any tensor of the graph.
    g_w1, g_b, g_u, g_z, g_a = grad(loss, [w1_t, b_t, u, z, a])
    a_value = a.item()
    return LogisticExample(
        x1=x1_t.item(), w1=w1_t.item(), b=b_t.item(), y=y_t.item(),
        u=u.item(), z=z.item(), a=a_value, loss=loss.item(),
        grad_w1=g_w1.item(), grad_b=g_b.item(), grad_u=g_u.item(), grad_z=g_z.item(), grad_a=g_a.item(),
        hand_grad_w1=(a_value - y_t.item()) * x1_t.item(), hand_grad_b=a_value - y_t.item(),
    )


def gradient_step(example: LogisticExample, learning_rate: float) -> tuple[float, float]:
    """One step of gradient descent, as `opt.step()` of SGD does: the new (w1, b)."""
    return example.w1 - learning_rate * example.grad_w1, example.b - learning_rate * example.grad_b
