from dataclasses import dataclass, field

import pytest

from methods.base import HarnessError
from methods.config import override, parse_sets


@dataclass
class Inner:
    epochs: float = 1.0


@dataclass
class Outer:
    width: int = 8
    name: str = "a"
    train: Inner = field(default_factory=Inner)


def test_override_sets_flat_and_nested_values():
    cfg = override(Outer(), parse_sets(["width=16", "train.epochs=3", "name=b"]))
    assert cfg == Outer(width=16, name="b", train=Inner(epochs=3.0))
    assert isinstance(cfg.train.epochs, float)


def test_unknown_key_names_the_known_keys():
    with pytest.raises(HarnessError, match="unknown key.*widht.*known keys: name, train, width"):
        override(Outer(), {"widht": 3})


def test_non_number_for_a_number_field_is_an_error():
    with pytest.raises(HarnessError, match="not a number"):
        override(Outer(), {"width": "wide"})


def test_set_without_equals_is_an_error():
    with pytest.raises(HarnessError, match="expected key=value"):
        parse_sets(["width"])


def test_exponent_notation_is_a_number():
    assert parse_sets(["train.epochs=3e-1"]) == {"train.epochs": 0.3}
    assert override(Outer(), parse_sets(["train.epochs=2e0"])).train.epochs == 2.0
