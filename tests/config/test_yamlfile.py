from __future__ import annotations

from opsconductor.engine.config.yamlfile import json_path, load_yaml


def test_marks_for_values_and_keys() -> None:
    doc, problems = load_yaml("f.yaml", b"a: 1\nlist:\n  - x\n  - {y: 2}\n")
    assert problems == []
    assert doc.data == {"a": 1, "list": ["x", {"y": 2}]}
    assert (doc.mark(("list", 1, "y")).line, doc.mark(("list", 1, "y")).col) == (4, 9)
    assert doc.key_mark(("list",)).line == 2
    # A path that does not exist falls back to its nearest parent.
    assert doc.mark(("list", 1, "missing")).line == 4


def test_json_path() -> None:
    assert json_path(("rules", 2, "match", "custom_fields.x")) == "$.rules[2].match['custom_fields.x']"
    assert json_path(()) == "$"


def test_aliases_are_fine_when_small() -> None:
    doc, problems = load_yaml("f.yaml", b"base: &b {severity: major}\nother: *b\n")
    assert problems == [] and doc.data["other"] == {"severity": "major"}


def test_bom_and_crlf() -> None:
    doc, problems = load_yaml("f.yaml", "\ufeffa: 1\r\nb: 2\r\n".encode())
    assert problems == [] and doc.data == {"a": 1, "b": 2}


def test_oversized_file() -> None:
    doc, problems = load_yaml("f.yaml", b"a: " + b"x" * (5 * 1024 * 1024))
    assert doc is None and "the limit is" in problems[0].message


def test_control_character() -> None:
    doc, problems = load_yaml("f.yaml", b"a: \x07\n")
    assert doc is None and problems[0].format() == "f.yaml:1:4: $: YAML error: control character U+0007 is not allowed in YAML\n    Hint: remove the control character; quote binary data as an escaped string"
