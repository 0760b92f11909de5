"""Model files through the window: save and open, refused files, bare state_dicts, recent files, settings, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from app.__main__ import create_window, main
from app.main_window import MainWindow
from core.config import TrainConfig
from core.model import NeuralNetwork
from tests.app.helpers import FAKE_DEVICES, click, widget


def probabilities(window) -> np.ndarray:
    preds = window.predictions.current()
    assert preds is not None
    return preds.probabilities


def snapshot(window) -> tuple:
    table = widget(window, "predictionsTable")
    return (
        window.config_panel.config(),
        window.batch_losses().tolist(),
        window.trainer,
        window.model_path(),
        table.model().rowCount(),
        widget(window, "trainButton").text(),
        window.windowTitle(),
    )


@pytest.fixture
def saved(window, train, tmp_path):
    """The book's run trained and saved: (window, path)."""
    train(window)
    path = tmp_path / "book.pt"
    assert window.save_model(path)
    return window, path


def test_save_then_open_gives_the_same_predictions_settings_and_curves(saved, make_window):
    window, path = saved
    assert not window.is_dirty() and window.windowTitle().startswith("book.pt —")
    other = make_window()
    widget(other, "epochsSpin").setValue(9)
    assert other.load_model(path)
    assert other.config_panel.config() == window.config_panel.config()
    assert np.array_equal(probabilities(other), probabilities(window))
    assert np.array_equal(other.batch_losses(), window.batch_losses())
    assert np.array_equal(other.accuracy_plot.accuracies()[1], window.accuracy_plot.accuracies()[1])
    assert widget(other, "trainButton").text() == "Continue training"
    assert "book.pt" in widget(other, "statusLabel").text()
    assert not other.is_dirty() and other.recent_files()[0] == str(path)


def test_continue_training_an_opened_model(saved, make_window, train):
    window, path = saved
    other = make_window()
    assert other.load_model(path)
    assert train(other).status == "finished"
    losses = other.batch_losses()
    assert len(losses) == 12 and np.array_equal(losses[:6], window.batch_losses())
    assert other.trainer.history.epochs[-1].epoch == 6 and other.is_dirty()


def _hostile_files(tmp_path, good):
    text = tmp_path / "x.pt"
    text.write_text("this is not a model\n")
    truncated = tmp_path / "truncated.pt"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    pickled = tmp_path / "whole_model.pt"
    torch.save(NeuralNetwork(2, 2), pickled)
    nan = tmp_path / "nan.pt"
    state = NeuralNetwork(2, 2).state_dict()
    state["layers.0.weight"][0, 0] = float("nan")
    torch.save(state, nan)
    folder = tmp_path / "folder.pt"
    folder.mkdir()
    return [text, truncated, empty, pickled, nan, folder, tmp_path / "missing.pt"]


def test_hostile_files_are_refused_and_nothing_changes(saved, tmp_path):
    window, good = saved
    widget(window, "epochsSpin").setValue(7)  # an edited, unsaved setting must survive too
    before = snapshot(window)
    for path in _hostile_files(tmp_path, good):
        assert window.load_model(path) is False, path
        assert snapshot(window) == before, path
        status = widget(window, "statusLabel").text()
        assert status.startswith("Cannot open") and path.name in status
        assert window.last_message is not None and window.last_message[1] == status
        assert window._message_box.isVisible()
    assert window.is_dirty() is False and window.recent_files() == [str(good)]


def test_a_refused_file_leaves_a_fresh_window_fresh(window, tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_text("hello")
    assert not window.load_model(bad)
    assert window.config_panel.config() == TrainConfig() and not window.has_model()
    assert widget(window, "trainButton").text() == "Train"


def test_exported_weights_are_a_bare_state_dict_that_sets_the_architecture(window, train, make_window, tmp_path):
    widget(window, "hiddenSizesEdit").setText("5, 4")
    widget(window, "activationCombo").setCurrentIndex(widget(window, "activationCombo").findData("relu"))
    train(window)
    path = tmp_path / "model.pth"
    assert window.export_weights(path)
    state = torch.load(path, weights_only=True, map_location="cpu")
    assert list(state) == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
                           "layers.4.weight", "layers.4.bias"]
    other = make_window()
    assert other.load_model(path)
    assert widget(other, "hiddenSizesEdit").text() == "5, 4"
    assert np.allclose(probabilities(other), probabilities(window), atol=1e-6)
    assert len(other.batch_losses()) == 0  # a bare state_dict has no curves
    assert widget(other, "trainButton").text() == "Continue training"


def test_weights_that_do_not_fit_the_data_can_still_predict_and_then_train_on_fitting_data(window, tmp_path, qtbot,
                                                                                           train):
    torch.manual_seed(0)
    path = tmp_path / "iris_like.pth"
    torch.save(NeuralNetwork(4, 3, (6,)).state_dict(), path)
    assert window.load_model(path)
    status = widget(window, "statusLabel").text()
    assert "4 input" in status and "3 output" in status and "appendix-a" in status
    assert widget(window, "hiddenSizesEdit").text() == "6"
    assert "4 features" in widget(window, "predictionsAccuracyLabel").text()
    widget(window, "predictInputEdit").setText("5.1, 3.5, 1.4, 0.2")
    click(qtbot, widget(window, "predictButton"))
    assert widget(window, "predictResultLabel").text().startswith("class ")
    widget(window, "predictInputEdit").setText("1, 2")
    click(qtbot, widget(window, "predictButton"))
    assert "4 feature" in widget(window, "predictResultLabel").text()
    evaluate = widget(window, "evaluateButton")
    click(qtbot, evaluate)  # appendix-a still does not fit
    assert "Cannot evaluate" in widget(window, "statusLabel").text()
    combo = widget(window, "datasetCombo")
    combo.setCurrentIndex(combo.findData("iris"))
    assert widget(window, "trainButton").text() == "Continue training"
    click(qtbot, evaluate)
    assert widget(window, "predictionsTable").model().rowCount() == 30
    assert not evaluate.isEnabled()  # bound to the iris data now
    assert train(window).status == "finished"
    assert len(window.batch_losses()) > 0


def test_save_refuses_without_a_model_and_when_the_folder_is_missing(window, train, tmp_path):
    assert not window.save_model(tmp_path / "nothing.pt")
    assert "no model" in widget(window, "statusLabel").text()
    assert not (tmp_path / "nothing.pt").exists()
    train(window)
    assert not window.save_model(tmp_path / "no" / "such" / "folder" / "m.pt")
    assert "Cannot save" in widget(window, "statusLabel").text()
    assert window.is_dirty()


def test_unsaved_model_asks_before_new_and_quit(window, train):
    questions = []
    answer = [False]

    def confirm(question):
        questions.append(question)
        return answer[0]

    window.confirm_discard = confirm
    train(window)
    widget(window, "epochsSpin").setValue(5)
    assert not window.new_session()
    assert window.has_model() and len(questions) == 1
    assert not window.close()
    assert window.isVisible() and len(questions) == 2
    answer[0] = True
    assert window.new_session()
    assert not window.has_model() and window.config_panel.config() == TrainConfig()
    assert len(window.batch_losses()) == 0


def test_open_asks_before_dropping_an_unsaved_model(window, train, saved_file):
    window.confirm_discard = lambda question: False
    train(window)
    losses = window.batch_losses()
    assert not window.open_recent(str(saved_file))
    assert np.array_equal(window.batch_losses(), losses)
    window.confirm_discard = lambda question: True
    assert window.open_recent(str(saved_file))
    assert not window.is_dirty()


@pytest.fixture
def saved_file(tmp_path, qtbot, isolated_settings):
    """A model file of the book's run, saved by another window (isolated settings)."""
    from core.checkpoint import save_model_file
    from core.training import Trainer

    t = Trainer(TrainConfig())
    t.fit()
    path = tmp_path / "saved.pt"
    save_model_file(path, model_state=t.state_dict_cpu(), config=t.cfg.to_dict(), history=t.history.to_dict(),
                    optimizer_state=t.optimizer.state_dict())
    return path


def test_drag_and_drop_opens_a_model_file(window, saved_file):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(saved_file))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    assert window.model_path() == str(saved_file)
    assert np.round(window.batch_losses(), 2).tolist() == [0.75, 0.65, 0.44, 0.13, 0.03, 0.0]
    other = QMimeData()
    other.setUrls([QUrl.fromLocalFile("/tmp/notes.txt")])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, other, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert not enter.isAccepted()


def test_recent_models_menu_lists_opened_files(window, saved_file):
    assert window.load_model(saved_file)
    actions = [a for a in window.recent_menu.actions() if a.isEnabled()]
    assert len(actions) == 1 and actions[0].toolTip() == str(saved_file)
    window.reset_model()
    actions[0].trigger()
    assert window.has_model() and window.model_path() == str(saved_file)


def test_settings_persist_between_launches_in_the_given_file(qtbot, tmp_path, saved_file):
    ini = tmp_path / "my.ini"
    first = MainWindow(settings=ini, devices=FAKE_DEVICES, restore_session=True)
    qtbot.addWidget(first)
    widget(first, "batchSizeSpin").setValue(3)
    widget(first, "hiddenSizesEdit").setText("12")
    assert first.load_model(saved_file)  # sets the config from the file...
    widget(first, "batchSizeSpin").setValue(3)  # ...then the user edits it again
    first.close()
    assert ini.exists()
    second = MainWindow(settings=ini, devices=FAKE_DEVICES, restore_session=True)
    qtbot.addWidget(second)
    assert second.config_panel.config().batch_size == 3
    assert second.recent_files() == [str(saved_file)]
    fresh = MainWindow(settings=ini, devices=FAKE_DEVICES)
    qtbot.addWidget(fresh)
    assert fresh.config_panel.config() == TrainConfig()  # MainWindow() alone is always the book's run


def test_default_settings_stay_out_of_the_users_home(window, isolated_settings):
    window.close()
    assert isolated_settings.exists()
    assert window.settings.fileName() == str(isolated_settings)


def test_python_m_app_opens_the_file_given(qtbot, saved_file):
    _app, window = create_window([str(saved_file)], restore_session=False)
    qtbot.addWidget(window)
    assert window.model_path() == str(saved_file)
    assert len(window.batch_losses()) == 6


def test_python_m_app_with_a_bad_file_still_opens_the_window(qtbot, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 10)
    _app, window = create_window([str(bad)], restore_session=False)
    qtbot.addWidget(window)
    assert not window.has_model() and "bad.pt" in window.status_text()


def test_main_version_and_help_exit_cleanly(capsys):
    assert main(["--version"]) == 0
    assert "Torch Playground" in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "MODEL_FILE" in capsys.readouterr().out


def test_about_names_versions_and_devices(window):
    import PySide6

    window.show_about()
    title, text = window.last_message
    assert "About" in title
    assert torch.__version__ in text and PySide6.__version__ in text and "Qt " in text
    assert "cuda:0 (Test GPU): available" in text and "mps: not available" in text
