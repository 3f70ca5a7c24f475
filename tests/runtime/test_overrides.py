from dataclasses import dataclass, field

import pytest

from methods.base import HarnessError
from methods.runtime.overrides import override, parse_sets, read_overrides_file


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


def test_nested_mappings_are_checked_like_dotted_keys():
    assert override(Outer(), {"train": {"epochs": 2}}) == Outer(train=Inner(epochs=2.0))
    with pytest.raises(HarnessError, match=r"train\.epochs='two' is not a number"):
        override(Outer(), {"train": {"epochs": "two"}})


@pytest.mark.parametrize("values, message", [
    ({"train": 3}, r"train is a section \(Inner\), not a value \(got 3\); set its keys instead, train\.KEY=VALUE"),
    ({"width": {"x": 1}}, r"width is a single value and has no sub-keys \(got width\.x\); give it as width=VALUE"),
    ({"width": {}}, r"width is a single value .*got an empty mapping"),
    ({"width": 2.5}, r"width=2\.5 is not a whole number"),
    ({"width": True}, r"width=True is not a number"),
    ({"train.epochz": 1}, r"unknown key\(s\) train\.epochz for Inner"),
])
def test_a_value_of_the_wrong_shape_is_one_line_naming_the_key(values, message):
    with pytest.raises(HarnessError, match=message) as e:
        override(Outer(), values)
    assert "\n" not in str(e.value)


def test_whole_float_for_an_int_field_becomes_an_int():
    assert override(Outer(), {"width": 16.0}).width == 16
    assert isinstance(override(Outer(), {"width": 16.0}).width, int)


def test_overrides_file_flattens_nested_mappings(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("width: 4\ntrain:\n  epochs: 2\n")
    assert read_overrides_file(path) == {"width": 4, "train.epochs": 2}
    path.write_text("")
    assert read_overrides_file(path) == {}


@pytest.mark.parametrize("text, message", [
    ("train:\n  epochs: 2\n   width: 3\n", r"file .*c\.yaml, line 3, column 9: mapping values are not allowed here"),
    ("- width\n- 3\n", r"c\.yaml: expected a mapping of key: value"),
    ("width: [1\n", r"c\.yaml, line 2, column 1: .*"),
])
def test_overrides_file_errors_name_the_file_and_where(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(HarnessError, match=message) as e:
        read_overrides_file(path)
    assert "\n" not in str(e.value)


def test_missing_overrides_file(tmp_path):
    with pytest.raises(HarnessError, match=r"--config .*nope\.yaml: file not found"):
        read_overrides_file(tmp_path / "nope.yaml")
