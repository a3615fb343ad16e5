"""The fast path for plain-lookup templates renders exactly what the Jinja sandbox renders."""
from __future__ import annotations

import pytest

from opsconductor.engine.config.templates import compile_template, render
from opsconductor.engine.pipeline.varbinds import Varbinds

VB = Varbinds([("1.3.6.1.2.1.2.2.1.1.7", 7), ("1.3.6.1.2.1.2.2.1.8.7", 2)])
CONTEXT = {"device_name": "sw1", "device_ip": "10.0.0.2", "vb": VB, "values": {"ifOperStatus": "down"},
           "none": None, "num": 3, "nested": {"a": {"b": "deep"}}, "items": [1, 2], "zero": 0, "empty": ""}
TEMPLATES = [
    "Interface Down - {{ device_name }}", "{{ vb.ifIndex }}", "if{{vb.ifIndex}} is {{ values.ifOperStatus }}",
    "{{ missing }}", "{{ missing.attr }}", "{{ none }}", "{{ none.x }}", "{{ num }}", "{{ nested.a.b }}",
    "{{ nested.a.zz }}", "{{ vb.nosuch }}", "{{ values._private }}", "{{ values.items }}", "{{ items }}",
    "{{ device_name|upper }}", "{% if num %}yes{% endif %}", "a {{ device_name }} b {{ device_ip }} c",
    "{{ values.ifOperStatus or vb.ifOperStatus }}", "{{ missing or num }}", "{{ none or missing }}",
    "{{ zero or none }}", "{{ zero or empty }}", "{{ empty or zero or device_name }}", "{{ missing or missing2 }}",
    "{{ num or not_there }}", "{{ nested.a.zz or nested.a.b }}", "{{ values.items or num }}",
    "{{ missing or 'unknown' }}", '{{ none or "n/a" }}', "{{ vb.nosuch or vb.ifIndex or 'x' }}", "{{ num or 'x' }}",
    "{{ missing or '' }}", "{{ 'lit' }}", "{{ missing or 'a or b' }}", "{{ missing or 'it''s' }}",
    "({{ values.nosuch or vb.ifOperStatus or 'unknown' }})",
    # varbinds' own methods stay methods (Jinja decides), names resolve, repeats hit the memo
    "{{ vb.get }}", "{{ vb.pairs or 'x' }}", "{{ vb.ifIndex.real }}", "{{ vb.ifIndex }}-{{ vb.ifIndex }}",
    "{{ vb['1.3.6.1.2.1.2.2.1.1'] }}",
]


@pytest.mark.parametrize("template", TEMPLATES)
def test_fast_path_equals_sandbox(template: str) -> None:
    assert render(template, CONTEXT) == compile_template(template).render(**CONTEXT)


def test_sandbox_blocks_internals() -> None:
    assert render("{{ vb.__class__.__mro__ }}", CONTEXT) == ""
    with pytest.raises(Exception):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", CONTEXT)


def test_checking_a_plain_template_ignores_string_literals_and_names_unknown_fields() -> None:
    from opsconductor.engine.config.templates import TRAP_FIELDS, check_template

    assert check_template("{{ values.ifOperStatus or vb.ifOperStatus or 'unknown' }}", TRAP_FIELDS) == []
    (problem,) = check_template("{{ nosuch or 'unknown' }}", TRAP_FIELDS)
    assert problem.startswith("template uses unknown field(s) nosuch;")
