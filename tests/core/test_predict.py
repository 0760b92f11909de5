"""One prediction function: eval mode and no_grad, chunked, the data's standardization, the model's mode restored."""

import numpy as np
import pytest
import torch

from core.config import DatasetConfig, TrainConfig
from core.data import Standardizer
from core.model import NeuralNetwork
from core.predict import predict, predict_logits, softmax_np
from core.training import Trainer


def book_model() -> NeuralNetwork:
    torch.manual_seed(123)
    return NeuralNetwork(2, 2)


def test_logits_are_the_models_in_eval_mode_without_grad():
    model = book_model()
    X = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    logits = predict_logits(model, X)
    with torch.no_grad():
        expected = model.eval()(X)
    assert logits.dtype == torch.float32 and logits.device.type == "cpu"
    assert not logits.requires_grad
    assert torch.equal(logits, expected)


def test_chunks_give_the_same_rows():
    model = book_model()
    X = torch.randn(10, 2, generator=torch.Generator().manual_seed(1))
    # Equal up to float32 rounding: a matmul kernel may sum in another order for another number of rows.
    torch.testing.assert_close(predict_logits(model, X, chunk=3), predict_logits(model, X))


@pytest.mark.parametrize("training", [True, False])
def test_the_models_mode_is_put_back(training):
    model = book_model().train(training)
    predict_logits(model, [[1.0, 2.0]])
    assert model.training is training


def test_the_mode_is_put_back_after_an_error():
    model = book_model().train()
    with pytest.raises(RuntimeError):
        predict_logits(model, [[1.0, 2.0, 3.0]])  # three features for a model of two
    assert model.training


def test_raw_rows_are_standardized_first():
    model = book_model()
    standardizer = Standardizer(mean=(1.0, -2.0), std=(2.0, 0.5))
    rows = [[3.0, -1.0], [-1.0, 0.0]]
    expected = predict_logits(model, standardizer.apply(torch.tensor(rows)))
    assert torch.equal(predict_logits(model, rows, standardizer=standardizer), expected)
    # A model file's form of the same standardizer.
    assert torch.equal(predict_logits(model, np.asarray(rows), standardizer=standardizer.to_dict()), expected)


def test_empty_rows_give_an_empty_table():
    assert predict_logits(book_model(), torch.empty(0, 2)).shape == (0, 2)
    assert predict(book_model(), torch.empty(0, 2)).predicted.shape == (0,)


def test_rows_must_be_a_table():
    with pytest.raises(ValueError, match="2-D"):
        predict_logits(book_model(), [1.0, 2.0])


def test_softmax_is_stable_and_sums_to_one():
    logits = np.array([[1000.0, 0.0], [-1000.0, -1000.0], [0.5, -0.25]])
    p = softmax_np(logits)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p, torch.softmax(torch.tensor(logits), dim=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(softmax_np(logits[2]), p[2])  # one row


def test_predict_gives_logits_probabilities_and_classes():
    model = book_model()
    rows = [[-0.8, 2.8], [2.6, -1.6]]
    p = predict(model, rows)
    np.testing.assert_array_equal(p.logits, predict_logits(model, rows).numpy().astype(np.float64))
    np.testing.assert_array_equal(p.probabilities, softmax_np(p.logits))
    np.testing.assert_array_equal(p.predicted, p.logits.argmax(axis=1))


def test_trainer_predict_is_the_same_function():
    trainer = Trainer(TrainConfig(dataset=DatasetConfig(name="iris", standardize=True), batch_size=16, epochs=1))
    trainer.fit()
    raw = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    expected = predict_logits(trainer.model, raw, standardizer=trainer.data.standardizer)
    assert torch.equal(trainer.predict(torch.tensor(raw)), expected)
    assert torch.equal(trainer.predict(trainer.data.X_test, raw=False), predict_logits(trainer.model, trainer.data.X_test))
