"""The Appendix A panels: autograd's numbers are torch's, the batches are batch_plan's, the model's counts the book's, the code render_script's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QPushButton, QTableWidget

from app.panels.appendix import AppendixTabs, AutogradPanel, BatchesPanel, CodePanel, ModelPanel
from app.panels.appendix._common import INVALID_TEXT
from app.panels.appendix.batches import CLASSES_ROLE, INDICES_ROLE, MAX_BATCHES, MAX_CHIPS, SIZE_ROLE
from app.panels.appendix.highlight import KEYWORD, formats_at
from core.batches import batch_plan
from core.config import TrainConfig
from core.data import load_dataset
from core.model import NeuralNetwork
from core.script import render_script
from tests.app.helpers import click, widget

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOONS = TrainConfig().with_changes(dataset={"name": "moons"}, batch_size=16, learning_rate=0.1, epochs=100)


def first_number(label: QLabel) -> float:
    """The value a label states: the first number in its text."""
    match = re.search(r"-?\d+(?:\.\d+)?", label.text())
    assert match is not None, f"no number in {label.objectName()}: {label.text()!r}"
    return float(match.group())


def torch_autograd(x1: float, w1: float, b: float, y: float) -> tuple[float, float, float]:
    w = torch.tensor([w1], requires_grad=True)
    bb = torch.tensor([b], requires_grad=True)
    loss = F.binary_cross_entropy(torch.sigmoid(torch.tensor([x1]) * w + bb), torch.tensor([y]))
    g_w, g_b = torch.autograd.grad(loss, [w, bb])
    return loss.item(), g_w.item(), g_b.item()


def shown(panel: AutogradPanel) -> tuple[float, float, float]:
    return tuple(first_number(widget(panel, name, QLabel))
                 for name in ("autogradLossLabel", "autogradGradW1Label", "autogradGradBLabel"))


@pytest.fixture
def make(qtbot):
    """Build a panel (or the tabs) that qtbot closes, its threads waited for, at the end of the test."""
    def build(cls, *args, **kwargs):
        panel = cls(*args, **kwargs)
        qtbot.addWidget(panel, before_close_func=lambda w: getattr(w, "shutdown", lambda: None)())
        return panel

    return build


# --- Autograd ------------------------------------------------------------------------------------------


def test_autograd_defaults_are_the_books_numbers(make):
    panel = make(AutogradPanel)
    loss, g_w1, g_b = shown(panel)
    assert (loss, g_w1, g_b) == (0.0852, -0.0898, -0.0817)
    assert widget(panel, "autogradLossLabel", QLabel).text() == "loss = 0.0852"
    assert (loss, g_w1, g_b) == tuple(round(v, 4) for v in torch_autograd(1.1, 2.2, 0.0, 1.0))
    spins = [widget(panel, n, QDoubleSpinBox).value() for n in
             ("autogradX1Spin", "autogradW1Spin", "autogradBSpin", "autogradYSpin", "autogradLrSpin")]
    assert spins == [1.1, 2.2, 0.0, 1.0, 0.5]
    assert first_number(widget(panel, "autogradHandW1Label", QLabel)) == -0.0898  # (a - y) * x1
    assert first_number(widget(panel, "autogradHandBLabel", QLabel)) == -0.0817  # a - y
    assert panel.graph.node_lines("w1") == ("w₁ · weight", "w₁ = 2.2000", "dL/dw₁ = -0.0898")
    assert panel.graph.node_lines("loss")[1] == "L = 0.0852"


@pytest.mark.parametrize("x1, w1, b, y", [(-3.0, 0.5, 1.25, 0.0), (2.0, -1.5, 0.3, 0.25), (0.7, 4.0, -2.0, 1.0),
                                          (12.5, -0.8, 3.0, 0.6)])
def test_autograd_labels_follow_the_spins_as_torch_computes(make, x1, w1, b, y):
    panel = make(AutogradPanel)
    for name, value in (("autogradX1Spin", x1), ("autogradW1Spin", w1), ("autogradBSpin", b), ("autogradYSpin", y)):
        widget(panel, name, QDoubleSpinBox).setValue(value)
    expected = torch_autograd(x1, w1, b, y)
    assert shown(panel) == tuple(round(v, 4) for v in expected)
    assert panel.example().loss == expected[0]
    assert first_number(widget(panel, "autogradZLabel", QLabel)) == round(x1 * w1 + b, 4)


def test_gradient_steps_lower_the_loss_and_reset_brings_the_book_back(qtbot, make):
    panel = make(AutogradPanel)
    losses = [shown(panel)[0]]
    for _ in range(3):
        click(qtbot, widget(panel, "autogradStepButton", QPushButton))
        losses.append(shown(panel)[0])
    assert losses[-1] < losses[2] < losses[1] < losses[0] == 0.0852
    w1 = widget(panel, "autogradW1Spin", QDoubleSpinBox).value()
    assert w1 > 2.2  # moved against a negative gradient
    assert shown(panel) == tuple(round(v, 4) for v in torch_autograd(1.1, w1, widget(panel, "autogradBSpin").value(), 1.0))
    assert "After 3 step(s)" in widget(panel, "autogradStepsLabel", QLabel).text()
    click(qtbot, widget(panel, "autogradResetButton", QPushButton))
    assert shown(panel) == (0.0852, -0.0898, -0.0817)


def test_autograd_waits_for_torch_when_told_to(make):
    panel = make(AutogradPanel, torch_ready=False)
    assert panel.example() is None
    assert not re.search(r"\d", widget(panel, "autogradGradW1Label", QLabel).text())
    assert not widget(panel, "autogradStepButton", QPushButton).isEnabled()
    panel.set_torch_ready()
    assert shown(panel) == (0.0852, -0.0898, -0.0817)


# --- Batches -------------------------------------------------------------------------------------------


def grid(panel: BatchesPanel, role=INDICES_ROLE) -> dict[str, list]:
    """The table as {row header: [cell of each epoch]}."""
    m = panel.model
    rows = {}
    for r in range(m.rowCount()):
        rows[m.headerData(r, Qt.Orientation.Vertical)] = [m.data(m.index(r, c), role) for c in range(m.columnCount())]
    return rows


def expected_grid(cfg: TrainConfig) -> dict[str, list]:
    plan = batch_plan(cfg, 3)
    rows = {f"Batch {b}": [tuple(plan.epochs[e][b][:MAX_CHIPS]) for e in range(3)]
            for b in range(min(plan.batches_per_epoch, MAX_BATCHES))}
    if plan.dropped[0]:
        rows["dropped"] = [tuple(d[:MAX_CHIPS]) for d in plan.dropped]
    return rows


def test_batches_grid_is_batch_plan_for_the_books_run(make):
    panel = make(BatchesPanel)
    cfg = TrainConfig()
    panel.set_config(cfg)
    assert grid(panel) == expected_grid(cfg)
    # The book's run: batches of 2 from 5 samples, one left out per epoch (a different one each time).
    assert list(grid(panel)) == ["Batch 0", "Batch 1", "dropped"]
    assert panel.model.headerData(0, Qt.Orientation.Horizontal) == "Epoch 1"
    y = load_dataset(cfg.dataset).y_train.tolist()
    for indices, classes in zip(sum(grid(panel).values(), []), sum(grid(panel, CLASSES_ROLE).values(), []), strict=True):
        assert list(classes) == [y[i] for i in indices]
    summary = widget(panel, "batchesSummaryLabel", QLabel).text()
    assert "<b>5</b> training samples" in summary and "<b>2</b> batches per epoch" in summary
    notes = widget(panel, "batchesNoteLabel", QLabel).text()
    assert "epoch 2 differs from epoch 1" in notes and "num_workers" in notes and "not which samples" not in notes


def test_batches_grid_is_batch_plan_for_moons_and_follows_the_settings(make):
    panel = make(BatchesPanel)
    panel.set_config(MOONS)
    assert grid(panel) == expected_grid(MOONS)
    assert "dropped" not in grid(panel)  # 320 samples fill batches of 16 exactly
    text = panel.model.data(panel.model.index(0, 0))
    assert text == " ".join(map(str, batch_plan(MOONS, 3).epochs[0][0]))
    bigger = MOONS.with_changes(batch_size=48)  # 320 = 6 * 48 + 32: the last 32 are dropped
    panel.set_config(bigger)
    assert grid(panel) == expected_grid(bigger)
    dropped = grid(panel, SIZE_ROLE)["dropped"]
    assert dropped == [32, 32, 32]
    kept = bigger.with_changes(drop_last=False)
    panel.set_config(kept)
    assert "dropped" not in grid(panel)
    assert grid(panel, SIZE_ROLE)["Batch 6"] == [32, 32, 32]  # the short last batch is trained on
    assert grid(panel) == expected_grid(kept)
    in_order = kept.with_changes(shuffle=False)
    panel.set_config(in_order)
    assert grid(panel)["Batch 0"] == [tuple(range(16))] * 3
    assert "shuffle</b> is off" in widget(panel, "batchesNoteLabel", QLabel).text()


def test_batches_of_bigger_data_are_drawn_off_the_gui_thread(qtbot, make):
    panel = make(BatchesPanel)
    cfg = MOONS.with_changes(dataset={"samples": 40_000}, batch_size=10)
    panel.set_config(cfg)
    assert panel.plan() is None  # a thread makes the data
    qtbot.waitUntil(lambda: panel.plan() is not None, timeout=60_000)
    assert grid(panel) == expected_grid(cfg)
    assert len(grid(panel)) == MAX_BATCHES
    assert "3,150 more are not listed" in widget(panel, "batchesSummaryLabel", QLabel).text()  # 3,200 batches


def test_batches_going_back_before_a_thread_ends_show_the_settings_now(qtbot, make):
    panel = make(BatchesPanel)
    book = TrainConfig()
    panel.set_config(book)
    panel.set_config(MOONS.with_changes(dataset={"samples": 40_000}))
    assert panel.plan() is None and "Making the data" in widget(panel, "batchesSummaryLabel", QLabel).text()
    panel.set_config(book)  # back before the thread is done: the book's data is still at hand
    assert grid(panel) == expected_grid(book)
    qtbot.waitUntil(lambda: not panel.runner.running(), timeout=60_000)
    assert grid(panel) == expected_grid(book)  # the abandoned work changed nothing


def test_batches_say_why_when_the_data_cannot_be_read(qtbot, make, tmp_path):
    panel = make(BatchesPanel)
    panel.set_config(TrainConfig().with_changes(dataset={"name": "csv", "path": str(tmp_path / "missing.csv")}))
    summary = widget(panel, "batchesSummaryLabel", QLabel)
    qtbot.waitUntil(lambda: "cannot be shown" in summary.text(), timeout=60_000)
    assert "missing.csv" in summary.text() and panel.plan() is None


def test_batches_say_when_the_settings_are_not_valid(make):
    panel = make(BatchesPanel)
    panel.set_config(TrainConfig())
    panel.set_config(None)
    assert panel.model.rowCount() == 0
    assert widget(panel, "batchesSummaryLabel", QLabel).text() == INVALID_TEXT


# --- Model ---------------------------------------------------------------------------------------------


def table_total(panel: ModelPanel) -> str:
    table = widget(panel, "modelParamsTable", QTableWidget)
    last = table.rowCount() - 1
    assert table.item(last, 0).text() == "Total"
    return table.item(last, 4).text()


def test_model_panel_shows_the_books_network_and_752_parameters(make):
    panel = make(ModelPanel)
    panel.set_config(TrainConfig())
    assert panel.total_parameters() == 752
    assert table_total(panel) == "752"
    assert first_number(widget(panel, "modelTotalLabel", QLabel)) == 752
    assert widget(panel, "modelPrintText").toPlainText() == str(NeuralNetwork(2, 2))
    table = widget(panel, "modelParamsTable", QTableWidget)
    assert [table.item(0, c).text() for c in range(5)] == ["layers.0", "Linear", "(30, 2)", "(30)", "90"]
    assert table.item(1, 1).text() == "ReLU"
    panel.set_device_text("cuda:0")
    assert "Device: cuda:0" in widget(panel, "modelDeviceLabel", QLabel).text()
    modes = widget(panel, "modelModesLabel", QLabel).text()
    assert "model.train()" in modes and "model.eval()" in modes and "torch.no_grad()" in modes


def fifty_features_csv(folder) -> str:
    """A CSV file of 30 rows, 50 feature columns and 3 classes: the book's NeuralNetwork(50, 3)."""
    path = folder / "fifty.csv"
    rows = [",".join([f"f{i}" for i in range(50)] + ["label"])]
    rows += [",".join([str((r * 7 + i) % 11 / 10) for i in range(50)] + [str(r % 3)]) for r in range(30)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_model_panel_counts_2213_parameters_for_50_inputs_from_a_csv(qtbot, make, tmp_path):
    path = fifty_features_csv(tmp_path)
    panel = make(ModelPanel)
    panel.set_config(TrainConfig().with_changes(dataset={"name": "csv", "path": str(path)}))
    qtbot.waitUntil(lambda: panel.total_parameters() is not None, timeout=60_000)
    assert panel.total_parameters() == 2213  # NeuralNetwork(50, 3), the book's count
    assert table_total(panel) == "2,213"
    panel.set_config(TrainConfig().with_changes(dataset={"name": "iris"}, hidden_sizes=()))
    assert panel.total_parameters() == 4 * 3 + 3  # logistic regression on iris
    panel.show_architecture(50, 3, (30, 20))
    assert table_total(panel) == "2,213"
    panel.set_config(None)
    assert panel.total_parameters() is None and widget(panel, "modelSummaryLabel", QLabel).text() == INVALID_TEXT


# --- Code ----------------------------------------------------------------------------------------------


def test_code_panel_shows_render_script_and_marks_what_a_change_changed(make):
    panel = make(CodePanel)
    cfg = TrainConfig()
    panel.set_config(cfg)
    editor = widget(panel, "codeText")
    assert editor.toPlainText() == render_script(cfg) == panel.script()
    assert editor.isReadOnly() and panel.changed_lines() == []
    changed = cfg.with_changes(learning_rate=0.1)
    panel.set_config(changed)
    assert editor.toPlainText() == render_script(changed)
    lines = render_script(changed).splitlines()
    marked = panel.changed_lines()
    assert marked and all("0.1" in lines[i] for i in marked)
    assert any('"learning_rate": 0.1' in lines[i] for i in marked)
    assert [s.cursor.blockNumber() for s in editor.extraSelections()] == marked
    # Keywords are highlighted.
    import_line = next(i for i, line in enumerate(lines) if line.startswith("import torch"))
    assert any(fmt == KEYWORD for start, _, fmt in formats_at(panel.highlighter, import_line) if start == 0)
    panel.set_config(None)
    assert panel.script() == "" and editor.toPlainText() == ""
    assert not widget(panel, "exportScriptButton", QPushButton).isEnabled()
    assert widget(panel, "codeInfoLabel", QLabel).text() == INVALID_TEXT


def test_code_panel_rewrites_only_changed_lines_and_stays_equal_to_render_script(make):
    panel = make(CodePanel)
    book = TrainConfig()
    configs = [book, book.with_changes(dataset={"name": "digits"}), book.with_changes(hidden_sizes=()),
               book.with_changes(hidden_sizes=(5, 6, 7), activation="tanh", optimizer="adam", learning_rate=0.01),
               book.with_changes(dataset={"name": "spiral", "classes": 5}, shuffle=False), book,
               book.with_changes(device="cuda:1", num_workers=2, drop_last=False)]
    for cfg in configs:
        panel.set_config(cfg)
        assert widget(panel, "codeText").toPlainText() == render_script(cfg)
    panel.set_config(book.with_changes(dataset={"name": "moons", "samples": 3}, hidden_sizes=(4,)))
    assert panel.script() == ""  # samples below the minimum: no script, and the reason
    assert "No script for these settings" in widget(panel, "codeInfoLabel", QLabel).text()


def test_export_writes_the_script_atomically(make, tmp_path):
    panel = make(CodePanel)
    panel.set_config(MOONS)
    target = tmp_path / "train.py"
    target.write_text("old", encoding="utf-8")
    assert panel.export_script(target) is True
    assert target.read_text(encoding="utf-8") == render_script(MOONS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]  # no temporary file left
    assert panel.export_script(tmp_path / "missing" / "train.py") is False
    assert "Could not write" in widget(panel, "codeStatusLabel", QLabel).text()


# --- The tabs together ----------------------------------------------------------------------------------


def test_appendix_tabs_follow_the_settings(qtbot, make):
    tabs = make(AppendixTabs)
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["Autograd", "Batches", "Model", "Code"]
    tabs.set_config(TrainConfig())
    assert tabs.model.total_parameters() == 752
    assert tabs.code.script() == render_script(TrainConfig())
    assert grid(tabs.batches) == expected_grid(TrainConfig())
    tabs.set_config(None)
    assert tabs.batches.plan() is None and tabs.model.total_parameters() is None and tabs.code.script() == ""
    tabs.set_config(TrainConfig().with_changes(batch_size=0))  # an invalid config is treated as none
    assert tabs.code.script() == ""
    assert first_number(widget(tabs, "autogradLossLabel", QLabel)) == 0.0852


def test_tabs_read_a_csv_once_for_the_model_and_the_batches(qtbot, make, tmp_path):
    tabs = make(AppendixTabs)
    cfg = TrainConfig().with_changes(dataset={"name": "csv", "path": fifty_features_csv(tmp_path)}, batch_size=5)
    tabs.set_config(cfg)
    qtbot.waitUntil(lambda: tabs.model.total_parameters() is not None and tabs.batches.plan() is not None, timeout=60_000)
    assert tabs.model.total_parameters() == 2213
    assert grid(tabs.batches) == expected_grid(cfg)
    assert tabs.source.cached(cfg.dataset).num_features == 50


def test_tabs_built_before_torch_wait_for_it(qtbot, make):
    tabs = make(AppendixTabs, torch_later=True)
    tabs.set_config(TrainConfig())
    assert tabs.code.script() == render_script(TrainConfig())  # the script needs no torch
    assert tabs.batches.plan() is None and tabs.model.total_parameters() is None and tabs.autograd.example() is None
    qtbot.waitUntil(tabs.is_torch_ready, timeout=60_000)  # torch is loaded here: the tabs notice on their own
    assert tabs.model.total_parameters() == 752 and tabs.batches.plan() is not None
    assert tabs.autograd.example() is not None


def test_importing_the_panels_imports_no_torch():
    code = textwrap.dedent("""
        import sys
        import app.panels.appendix
        print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_model_index_roles_answer_nothing_for_an_invalid_index(make):
    panel = make(BatchesPanel)
    panel.set_config(TrainConfig())
    assert panel.model.data(QModelIndex(), INDICES_ROLE) is None
