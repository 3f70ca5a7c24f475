"""DeepFashion In-shop: Eval/list_eval_partition.txt and img/."""
from __future__ import annotations

import pytest


def test_parts_and_item_labels(build):
    ds = build("inshop").load()
    # items 2, 8 train; 80, 121 query and gallery. train = train + gallery parts
    assert ds.train.labels.tolist() == [0, 0, 1, 1, 1, 2, 2, 3]
    assert ds.database.labels.tolist() == [2, 2, 3]
    assert ds.query.labels.tolist() == [2, 3, 3]
    assert ds.query.source.paths[0] == "img/WOMEN/Skirts/id_00000080/06_6_back.jpg"
    assert ds.train.source.paths[-3:] == ds.database.source.paths


def test_a_limited_run_trains_on_its_own_gallery_subset(build):
    """--limit draws the gallery first and trains on the train part + that subset, as the full
    protocol trains on train + gallery: the database is not a set the models never saw."""
    m = build("inshop")
    full, ds = m.load(), m.load(limit=2, seed=3)
    assert len(ds.database) == 2 and len(ds.query) == 2
    assert set(ds.database.source.paths) <= set(full.database.source.paths)
    assert ds.train.source.paths[-2:] == ds.database.source.paths  # the gallery subset, in the train split
    train_part = set(full.train.source.paths) - set(full.database.source.paths)
    assert len(ds.train) == 4 and set(ds.train.source.paths[:2]) <= train_part


@pytest.mark.parametrize("subdir", ["In-shop", "DeepFashion-InShop"])
def test_other_folder_names(build, subdir):
    m = build("inshop", subdir=subdir)
    assert m.load().query.labels.tolist() == [2, 3, 3]


def test_missing_partition_file(build, raises_naming):
    m = build("inshop")
    m.files["partition"].unlink()
    raises_naming(m, m.files["partition"])


@pytest.mark.parametrize("bad", [
    "img/MEN/Denim/id_00000008/01_1_front.jpg id_00000008 validation",  # unknown status
    "img/MEN/Denim/id_00000008/01_1_front.jpg item8 train",  # not an item id
    "img/MEN/Denim/id_00000008/01_1_front.jpg id_00000008",  # two columns
])
def test_unparsable_line(build, raises_naming, tools, bad):
    m = build("inshop")
    tools.rewrite(m.files["partition"], lambda lines: lines[:-1] + [bad])
    assert "line 13" in raises_naming(m, m.files["partition"])


def test_count_line_disagrees(build, raises_naming, tools):
    m = build("inshop")
    tools.rewrite(m.files["partition"], lambda lines: ["52712"] + lines[1:])
    assert "52712" in raises_naming(m, m.files["partition"])


def test_header_missing(build, raises_naming, tools):
    m = build("inshop")
    tools.rewrite(m.files["partition"], lambda lines: [str(len(lines) - 1)] + lines[2:] + [lines[-1]])
    assert "header" in raises_naming(m, m.files["partition"])


def test_missing_image_file(build, raises_naming):
    m = build("inshop")
    m.image.unlink()
    assert "list_eval_partition.txt" in raises_naming(m, m.image)
