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


def test_yaml_12_core_schema() -> None:
    doc, problems = load_yaml("f.yaml", b"country: NO\nstart: 18:30\nmode: 0755\nnew: 0o17\nhex: 0x1F\n"
                                        b"flag: on\nday: 2026-12-01\nok: true\nnone: ~\nbig: 1_000\n")
    assert doc.data == {"country": "NO", "start": "18:30", "mode": 755, "new": 15, "hex": 31, "flag": "on",
                        "day": "2026-12-01", "ok": True, "none": None, "big": "1_000"}
    # Every problem is a warning naming the 1.1 reading; dates warn nowhere (no schema takes one).
    assert {p.level.value for p in problems} == {"warning"}
    assert [p.format().split("\n")[0] for p in problems] == [
        "f.yaml:1:10: $.country: warning: NO is read as the string 'NO' (YAML 1.2, as editors read it); "
        "a YAML 1.1 reader reads the boolean false",
        "f.yaml:2:8: $.start: warning: 18:30 is read as the string '18:30' (YAML 1.2, as editors read it); "
        "a YAML 1.1 reader reads the number 1110",
        "f.yaml:3:7: $.mode: warning: 0755 is read as 755 (YAML 1.2, as editors read it); "
        "a YAML 1.1 reader reads the octal number 493",
        "f.yaml:4:6: $.new: warning: 0o17 is read as 15 (YAML 1.2, as editors read it); "
        "a YAML 1.1 reader reads the string '0o17'",
        "f.yaml:6:7: $.flag: warning: on is read as the string 'on' (YAML 1.2, as editors read it); "
        "a YAML 1.1 reader reads the boolean true",
        "f.yaml:10:6: $.big: warning: 1_000 is read as the string '1_000' (YAML 1.2, as editors read it); "
        "a YAML 1.1 reader reads the number 1000",
    ]


def test_quoted_scalars_never_warn() -> None:
    doc, problems = load_yaml("f.yaml", b"country: 'NO'\nstart: \"18:30\"\n")
    assert problems == [] and doc.data == {"country": "NO", "start": "18:30"}


def test_deep_nesting_is_refused_before_it_is_built() -> None:
    for text in (b"a: " + b"[" * 100_000 + b"]" * 100_000,
                 b"a:\n" + b"".join(b" " * i + b"- \n" for i in range(2000))):
        doc, problems = load_yaml("f.yaml", text)
        assert doc is None and problems[0].message == "document nests deeper than 64 levels"
        assert problems[0].line >= 1


def test_huge_numbers_are_refused_before_int() -> None:
    doc, problems = load_yaml("f.yaml", b"n: " + b"9" * 5000 + b"\n")
    assert doc is None and problems[0].format().startswith("f.yaml:1:4: $.n: a number of 5000 characters")
    doc, problems = load_yaml("f.yaml", b"n: \"" + b"9" * 5000 + b"\"\n")
    assert problems == [] and len(doc.data["n"]) == 5000  # as text it is fine


def test_tags_beyond_the_core_schema_are_refused() -> None:
    for text, word in ((b"a: !!timestamp 2026-13-45\n", "timestamp"), (b"a: !!binary aGk=\n", "binary"),
                       (b"a: !!set {x}\n", "set"), (b"a: !!int nine\n", "not an integer")):
        doc, problems = load_yaml("f.yaml", text)
        assert doc is None and word in problems[0].message and problems[0].line == 1
    doc, problems = load_yaml("f.yaml", b"a: !!int 0x10\nb: !!str 12\n")
    assert doc.data == {"a": 16, "b": "12"}


def test_escapes_that_are_not_text_are_refused() -> None:
    for text, code in ((b'a: "x\\0y"\n', "U+0000"), (b'a: "\\ud800"\n', "U+D800")):
        doc, problems = load_yaml("f.yaml", text)
        assert doc is None and problems[0].format().startswith(f"f.yaml:1:4: $.a: the escape for {code} is not text")
    doc, problems = load_yaml("f.yaml", b'a: "\\U0001F600 \\t"\n')
    assert problems == [] and doc.data == {"a": "\U0001F600 \t"}


def test_libyaml_parses_when_pyyaml_has_it() -> None:
    import yaml

    from opsconductor.engine.config import yamlfile

    # The pure-Python parser is ~3x slower on a 1,000-rule file; it only rewords syntax errors.
    assert yamlfile._FastLoader is not yamlfile._SlowLoader or not yaml.__with_libyaml__
