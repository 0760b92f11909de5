"""The batch preview is the head of batch_plan: the same draws, cut to a screenful."""

import pytest

from core.batch_preview import BatchPreview, batch_preview
from core.batches import batch_plan
from core.config import TrainConfig
from core.data import load_dataset

CASES = [
    {},
    {"drop_last": False},
    {"shuffle": False, "drop_last": False, "batch_size": 3},
    {"dataset": {"name": "moons", "samples": 203, "seed": 3}, "batch_size": 16, "drop_last": False},
    {"dataset": {"name": "moons", "samples": 400}, "batch_size": 3, "hidden_sizes": [], "seed": 5},
    {"dataset": {"name": "spiral", "samples": 90, "classes": 5}, "batch_size": 8, "hidden_sizes": [16, 16], "seed": 42},
    {"dataset": {"name": "iris"}, "batch_size": 100, "seed": 0},
]


@pytest.mark.parametrize("changes", CASES)
def test_the_preview_is_the_head_of_the_plan(changes):
    cfg = TrainConfig().with_changes(**changes).validate()
    data = load_dataset(cfg.dataset)
    plan = batch_plan(cfg, 3, data=data)
    for max_batches, max_items in ((50, 64), (4, 5), (1, 1)):
        preview = batch_preview(cfg, plan.train_samples, data.num_features, data.num_classes, 3,
                                max_batches=max_batches, max_items=max_items)
        assert preview == BatchPreview.from_plan(plan, max_batches, max_items)
        assert preview.batches_per_epoch == plan.batches_per_epoch
        assert preview.dropped_count == len(plan.dropped[0])
        for e in range(3):
            assert preview.epochs[e] == tuple(b[:max_items] for b in plan.epochs[e][:max_batches])
            assert preview.dropped[e] == plan.dropped[e][:max_items]


def test_a_big_split_is_previewed_without_listing_it():
    cfg = TrainConfig().with_changes(batch_size=1000, drop_last=False)
    preview = batch_preview(cfg, 5_000_001, 2, 2, 3, max_batches=50, max_items=8)
    assert preview.batches_per_epoch == 5001
    assert len(preview.epochs[0]) == 50 and all(len(b) == 8 for b in preview.epochs[0])
    assert preview.batch_sizes == (1000,) * 50
    assert preview.epochs[0] != preview.epochs[1]  # reshuffled
