"""The computation graph of the autograd example drawn as boxes and arrows, each box with its value and its gradient dL/dnode."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsPolygonItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from core.autograd_demo import LogisticExample

NODE_W, NODE_H = 150, 70
# A wider view than this scale would only blow the text up; a narrower one shrinks the whole graph.
MAX_SCALE = 1.35


@dataclass(frozen=True)
class NodeStyle:
    fill: str
    border: str


INPUT = NodeStyle("#eef2f7", "#8a99ad")  # data: no gradient wanted
PARAM = NodeStyle("#fff1dc", "#d08a1e")  # requires_grad=True: what the step changes
OP = NodeStyle("#e6f1fb", "#3b7bbf")  # an operation; its box holds its output
LOSS = NodeStyle("#fde7e4", "#c0504d")
GRAD_COLOR = QColor("#a1261b")

# name: (title, centre x, centre y, style). Laid out left to right in the order of the forward pass.
NODES = {
    "x1": ("x₁ · input", 80, 45, INPUT),
    "w1": ("w₁ · weight", 80, 140, PARAM),
    "b": ("b · bias", 80, 250, PARAM),
    "mul": ("×  multiply", 270, 92, OP),
    "add": ("+  add", 455, 160, OP),
    "sigmoid": ("σ  sigmoid", 640, 160, OP),
    "y": ("y · target", 640, 265, INPUT),
    "loss": ("BCE  loss", 825, 212, LOSS),
}
EDGES = (("x1", "mul"), ("w1", "mul"), ("mul", "add"), ("b", "add"), ("add", "sigmoid"), ("sigmoid", "loss"), ("y", "loss"))


def node_texts(ex: LogisticExample | None) -> dict[str, tuple[str, str]]:
    """Each node's value line and gradient line (what the box shows)."""
    if ex is None:
        return {name: ("", "") for name in NODES}
    def f(value: float) -> str:  # 4 decimals, as the labels; an exploding gradient in short form (1e+12)
        return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"

    return {
        "x1": (f"x₁ = {f(ex.x1)}", "no grad (data)"),
        "w1": (f"w₁ = {f(ex.w1)}", f"dL/dw₁ = {f(ex.grad_w1)}"),
        "b": (f"b = {f(ex.b)}", f"dL/db = {f(ex.grad_b)}"),
        "mul": (f"u = x₁·w₁ = {f(ex.u)}", f"dL/du = {f(ex.grad_u)}"),
        "add": (f"z = u + b = {f(ex.z)}", f"dL/dz = {f(ex.grad_z)}"),
        "sigmoid": (f"a = σ(z) = {f(ex.a)}", f"dL/da = {f(ex.grad_a)}"),
        "y": (f"y = {f(ex.y)}", "no grad (data)"),
        "loss": (f"L = {f(ex.loss)}", "dL/dL = 1"),
    }


class _Node:
    """A rounded box with a title, a value line and a gradient line."""

    def __init__(self, scene: QGraphicsScene, title: str, cx: float, cy: float, style: NodeStyle, font: QFont):
        self.rect = QRectF(cx - NODE_W / 2, cy - NODE_H / 2, NODE_W, NODE_H)
        path = QPainterPath()
        path.addRoundedRect(self.rect, 9, 9)
        self.box = QGraphicsPathItem(path)
        self.box.setBrush(QBrush(QColor(style.fill)))
        self.box.setPen(QPen(QColor(style.border), 1.6))
        scene.addItem(self.box)
        bold = QFont(font)
        bold.setBold(True)
        self.title = self._text(scene, title, bold, QColor("#1f2933"))
        self.value = self._text(scene, "", font, QColor("#1f2933"))
        self.grad = self._text(scene, "", font, GRAD_COLOR)
        self._lines = (self.title, self.value, self.grad)
        self.layout()

    @staticmethod
    def _text(scene: QGraphicsScene, text: str, font: QFont, color: QColor) -> QGraphicsSimpleTextItem:
        item = QGraphicsSimpleTextItem(text)
        item.setFont(font)
        item.setBrush(QBrush(color))
        scene.addItem(item)
        return item

    def set_lines(self, value: str, grad: str) -> None:
        self.value.setText(value)
        self.grad.setText(grad)
        self.layout()

    def layout(self) -> None:
        """Centre the three lines in the box."""
        heights = [item.boundingRect().height() for item in self._lines]
        y = self.rect.center().y() - sum(heights) / 2
        for item, h in zip(self._lines, heights, strict=True):
            item.setPos(self.rect.center().x() - item.boundingRect().width() / 2, y)
            y += h


def _arrow(scene: QGraphicsScene, start: QPointF, end: QPointF, color: QColor) -> None:
    """A line with an arrowhead at `end`, bent at its middle so it leaves and enters boxes horizontally."""
    path = QPainterPath(start)
    mid = (start.x() + end.x()) / 2
    path.cubicTo(QPointF(mid, start.y()), QPointF(mid, end.y()), end)
    line = QGraphicsPathItem(path)
    line.setPen(QPen(color, 1.5))
    scene.addItem(line)
    size, angle = 8.0, math.pi  # arrives pointing right (the curve's end tangent is horizontal)
    tip = end
    left = QPointF(tip.x() + size * math.cos(angle - 0.45), tip.y() + size * math.sin(angle - 0.45))
    right = QPointF(tip.x() + size * math.cos(angle + 0.45), tip.y() + size * math.sin(angle + 0.45))
    head = QGraphicsPolygonItem(QPolygonF([tip, left, right]))
    head.setBrush(QBrush(color))
    head.setPen(QPen(color, 1))
    scene.addItem(head)


class ComputationGraphView(QGraphicsView):
    """x₁, w₁, b → × → + → σ → BCE ← y, each box with its value (forward) and dL/dnode (backward)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("autogradGraphView")
        self.setAccessibleName("Computation graph")
        self.setToolTip(
            "The graph autograd records during the forward pass. Each box shows the value computed going forward "
            "and, in red, the gradient of the loss with respect to it, which backward() computes going from the "
            "loss back to the leaves with the chain rule. Only w₁ and b have requires_grad=True."
        )
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumSize(360, 150)
        self.setBackgroundBrush(QBrush(QColor("white")))
        scene = QGraphicsScene(self)
        self.setScene(scene)
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF(), 9.0))
        self.nodes = {name: _Node(scene, title, x, y, style, font) for name, (title, x, y, style) in NODES.items()}
        edge_color = QColor("#6b7785")
        for src, dst in EDGES:
            a, b = self.nodes[src].rect, self.nodes[dst].rect
            _arrow(scene, QPointF(a.right(), a.center().y()), QPointF(b.left() - 1, b.center().y()), edge_color)
        legend = QGraphicsSimpleTextItem("forward: values →        backward: gradients dL/d· ←")
        legend.setFont(font)
        legend.setBrush(QBrush(QColor("#52606d")))
        legend.setPos(NODES["mul"][1] - NODE_W / 2 + 10, NODES["loss"][2] + NODE_H / 2 + 40)
        scene.addItem(legend)
        self._bounds = scene.itemsBoundingRect().adjusted(-10, -10, 10, 10)
        scene.setSceneRect(self._bounds)
        self.show_example(None)

    def show_example(self, ex: LogisticExample | None) -> None:
        for name, (value, grad) in node_texts(ex).items():
            self.nodes[name].set_lines(value, grad)

    def node_lines(self, name: str) -> tuple[str, str, str]:
        """The title, value and gradient lines of a node (for tests and screen readers)."""
        node = self.nodes[name]
        return node.title.text(), node.value.text(), node.grad.text()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._fit()

    def _fit(self) -> None:
        """The whole graph in view, as large as fits, but no larger than MAX_SCALE."""
        view = self.viewport().rect()
        if view.width() < 2 or view.height() < 2:
            return
        scale = min(view.width() / self._bounds.width(), view.height() / self._bounds.height(), MAX_SCALE)
        self.resetTransform()
        self.scale(scale, scale)
        self.centerOn(self._bounds.center())
