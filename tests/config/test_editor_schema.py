"""The schemas `opsc schema KIND` exports agree with `opsc validate`, checked with the plain
`jsonschema` package (what an editor runs: no x- keywords): every default file passes, and
a bad file fails at the same paths in both."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from opsconductor.engine.config.loader import discover, load_tree
from opsconductor.engine.config.schema import kind_schema
from opsconductor.engine.config.yamlfile import json_path, load_yaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILES = discover(ROOT)


def editor_errors(kind: str, data) -> list:
    return list(Draft202012Validator(kind_schema(kind)).iter_errors(data))


def editor_paths(errors) -> set[str]:
    """Every path an editor would underline (an unexpected key underlines the key)."""
    out = set()
    for e in errors:
        out.add(json_path(tuple(e.absolute_path)))
        if e.validator == "additionalProperties":
            for key in re.findall(r"'([^']+)'", e.message.split("(")[-1]):
                out.add(json_path((*e.absolute_path, key)))
        out |= editor_paths(e.context or ())
    return out


def test_the_default_tree_has_files_of_every_kind() -> None:
    assert {kind for _, kind in DEFAULT_FILES} == {"connector", "oidmap", "dependency", "rule", "ruletest"}


@pytest.mark.parametrize("rel, kind", DEFAULT_FILES, ids=[rel for rel, _ in DEFAULT_FILES])
def test_every_default_file_validates_against_the_exported_schema(rel: str, kind: str) -> None:
    doc, problems = load_yaml(rel, (ROOT / rel).read_bytes())
    assert doc is not None, problems
    assert [e.message for e in editor_errors(kind, doc.data)] == []


BAD = {
    "connector typo": ("connectors.d/p.yaml", "connector",
                       "name: p\ntype: prtg\nurl: https://prtg.example.net\napi_tokn: ${env:T}\n"),
    "literal secret": ("connectors.d/p.yaml", "connector",
                       "name: p\ntype: prtg\nurl: https://prtg.example.net\napi_token: hunter2\n"),
    "connector list": ("connectors.d/l.yaml", "connector",
                       "connectors:\n  - {name: a, type: mcp, url: 'https://m', username: u, password: '${env:P}', pol: 1}\n"),
    "severity in a comparison": ("rules/r.yaml", "rule",
                                 "channels:\n  - {name: n, type: log}\nrules:\n  - name: r\n    match: {severity: {gte: majr}}\n"
                                 "    notify: {channels: [n]}\n"),
    "channel typo": ("rules/r.yaml", "rule",
                     "channels:\n  - {name: n, type: slack, webhook_url: '${env:S}', chanel: x}\n"),
    "channel literal secret": ("rules/r.yaml", "rule", "channels:\n  - {name: n, type: slack, webhook_url: https://hooks}\n"),
    "unknown channel type": ("rules/r.yaml", "rule", "channels:\n  - {name: n, type: slak}\n"),
    "oidmap severity": ("oidmaps/m.yaml", "oidmap",
                        "mappings:\n  - {oid: 1.3.6.1.4.1.9.1, alert_type: a, category: network, severity: majr, title: t}\n"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_file_fails_in_the_editor_where_validate_fails(case: str, tmp_path: Path) -> None:
    rel, kind, text = BAD[case]
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_text(text)
    validate = {p.path for p in load_tree(tmp_path, environ={}, with_git=False).errors if p.file == rel}
    assert validate, "the case must be an error for validate"
    doc, _ = load_yaml(rel, text.encode())
    errors = editor_errors(kind, doc.data)
    assert validate <= editor_paths(errors), [e.message for e in errors]


def test_a_connector_typo_is_one_editor_error_naming_the_key() -> None:
    doc, _ = load_yaml("c.yaml", BAD["connector typo"][2].encode())
    (error,) = editor_errors("connector", doc.data)
    assert "'api_tokn' was unexpected" in error.message
