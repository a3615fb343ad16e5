"""docs/config.md documents every key of every schema, in the section of its kind; a connector
type's own keys are in the README.md of its folder (docs/connectors.md#the-connector-types)."""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from opsconductor.engine.config.schema import CHANNEL_TYPES, kind_schema
from opsconductor.engine.connectors import catalog

DOC = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text(encoding="utf-8")


def sections(text: str, level: str) -> dict[str, str]:
    parts = re.split(rf"^{level} (.+)$", text, flags=re.M)
    return {parts[i].strip().strip("`"): parts[i + 1] for i in range(1, len(parts), 2)}


TOP = sections(DOC, "##")
CONNECTOR_COMMON = TOP["Connectors"].split("\n### ")[0]


def property_names(schema) -> set[str]:
    """Keys reachable from the schema's root (following $refs), not every shared definition."""
    names: set[str] = set()
    defs = schema.get("$defs", {})
    seen: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/") and ref not in seen:
                seen.add(ref)
                walk(defs[ref.removeprefix("#/$defs/")])
            if isinstance(node.get("properties"), dict):
                names.update(node["properties"])
            for k, v in node.items():
                if k != "$defs":
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    return names


def undocumented(names: set[str], text: str) -> list[str]:
    return sorted(n for n in names if f"`{n}`" not in text and not re.search(rf"`[^`]*\b{re.escape(n)}\b[^`]*`", text))


@pytest.mark.parametrize("ctype", catalog.names())
def test_connector_keys_documented_in_its_folder(ctype: str) -> None:
    spec = catalog.get(ctype)
    assert spec is not None
    readme = resources.files(spec.package).joinpath("README.md")
    assert readme.is_file(), f"{spec.package} has no README.md"
    text = readme.read_text(encoding="utf-8")
    assert f"`{ctype}`" in text.split("\n", 1)[0], f"{spec.package}: README.md's title does not name `{ctype}`"
    assert undocumented(property_names(kind_schema(f"connector.{ctype}")), text + CONNECTOR_COMMON) == []


@pytest.mark.parametrize("kind,section", [("oidmap", "OID maps"), ("dependency", "Dependencies"),
                                          ("rule", "Rules"), ("ruletest", "Rule tests")])
def test_kind_keys_documented(kind: str, section: str) -> None:
    assert undocumented(property_names(kind_schema(kind)), TOP[section]) == []


@pytest.mark.parametrize("ctype", CHANNEL_TYPES)
def test_channel_keys_documented(ctype: str) -> None:
    assert undocumented(property_names(kind_schema(f"channel.{ctype}")), TOP["Rules"]) == []


def test_server_settings_keys_documented() -> None:
    dashboard = (Path(__file__).resolve().parents[1] / "docs" / "dashboard.md").read_text(encoding="utf-8")
    assert undocumented(property_names(kind_schema("server")), dashboard) == []
