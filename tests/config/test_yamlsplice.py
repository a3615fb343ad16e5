"""Reading only the edited list item must give what reading the whole file gives: compared
on hand-picked edits and on many seeded random ones."""
import random

from opsconductor.engine.config.yamlfile import load_yaml
from opsconductor.engine.config.yamlsplice import Parsed, reparse, text_of

BASE = """\
# rules of the lab
channels:
  - {name: noc, type: log}
  - name: mail
    type: email
    to: [noc@example.com]
rules:
  - name: first
    match: {alert_type: link_down, severity: {gte: minor}}
    notify: {channels: [noc]}
  - name: second   # a comment
    description: |
      a block scalar
        kept as written

      with a blank line
    match:
      alert_type: [a, b]
      device_name: {regex: "sw-.*"}
    set: {tags: [on, yes], custom_fields: {mode: 0755}}

  # between two rules
  - name: "third"
    description: "a quoted
      text on two lines"
    match: {alert_type: link_up}
  -   name: fourth
      match: {alert_type: x}
priority_matrix:
  high: {high: p1}
"""


def read(text: str):
    doc, problems = load_yaml("rules/r.yaml", text.encode())
    return doc, sorted(problems)


def check(before: str, after: str):
    """The spliced reading of `after` (None when it falls back), asserted equal to the whole reading."""
    old_doc, old_problems = read(before)
    assert old_doc is not None
    spliced = reparse(Parsed(text_of(before.encode()), old_doc, tuple(old_problems)), after.encode())
    full_doc, full_problems = read(after)
    if spliced is None:
        return None
    assert full_doc is not None, f"spliced a text the whole reading refuses: {full_problems[:1]}"
    doc, problems = spliced
    assert doc.data == full_doc.data
    assert doc.marks == full_doc.marks
    assert sorted(problems) == full_problems
    return doc


def test_an_edited_rule_is_read_alone_and_the_others_are_the_same_objects():
    old_doc, _ = read(BASE)
    after = BASE.replace("  - name: second   # a comment", "  - name: second-renamed")
    doc = check(BASE, after)
    assert doc is not None
    assert doc.data["rules"][1]["name"] == "second-renamed"
    assert doc.data["rules"][0] is not None
    # the next read starts from this one: unchanged items are the previous document's objects
    assert reparse(Parsed(text_of(BASE.encode()), old_doc, ()), after.encode())[0].data["rules"][2] is \
        old_doc.data["rules"][2]


def test_edits_that_add_or_remove_lines_move_the_marks_after_them():
    for after in (
        BASE.replace("    notify: {channels: [noc]}\n", "    notify: {channels: [noc]}\n    continue: true\n"),
        BASE.replace("      with a blank line\n", ""),
        BASE.replace("    match: {alert_type: link_up}\n", "    match:\n      alert_type: link_up\n      site: on\n"),
        BASE.replace("  - {name: noc, type: log}", "  - name: noc\n    type: log"),
        BASE.replace("      match: {alert_type: x}\n", "      match: {alert_type: y}\n\n# the end of the rules\n"),
    ):
        assert check(BASE, after) is not None


def test_edits_that_reach_outside_one_item_are_read_whole():
    for after in (
        BASE.replace("  - name: \"third\"", "  - name: third\n  - name: inserted\n    match: {}"),  # two items
        BASE.replace("    match: {alert_type: link_up}\n", "    match: {alert_type: link_up\n"),  # left open
        BASE.replace("    match: {alert_type: link_up}\n", "    match: {alert_type: link_up}\nextra: 1\n"),
        BASE.replace("    match: {alert_type: link_up}\n", "    match: &m {alert_type: link_up}\n"),  # an anchor
        BASE.replace("    match: {alert_type: link_up}\n", "    match: *m\n"),
        BASE.replace("rules:", "rule:"),
        BASE.replace("  - name: first\n    match: {alert_type: link_down, severity: {gte: minor}}\n"
                     "    notify: {channels: [noc]}\n", ""),  # an item removed
    ):
        assert check(BASE, after) is None


def test_seeded_random_edits_read_as_the_whole_file_reads():
    rng = random.Random(17)
    lines = BASE.splitlines(keepends=True)
    fragments = ["    x: 1\n", "  - name: new\n", "name: top\n", "      deeper: [1, 2]\n", "    # note\n", "\n",
                 "    q: \"open\n", "    f: {a: 1\n", "    t:\ttab\n", "    y: NO\n", "  -\n", "    b: |\n      text\n",
                 "    a: &x 1\n", "    c: *x\n", "---\n", "...\n", "  - - nested\n", "    d: 'it''s'\n"]
    spliced = 0
    for _ in range(600):
        edited = list(lines)
        for _ in range(rng.choice((1, 1, 1, 2))):
            at = rng.randrange(len(edited))
            action = rng.randrange(5)
            if action == 0:
                edited.insert(at, rng.choice(fragments))
            elif action == 1 and len(edited) > 1:
                del edited[at]
            elif action == 2:
                line = edited[at]
                cut = rng.randrange(len(line))
                edited[at] = line[:cut] + rng.choice(("z", " ", ":", "-", "#", "'", "[", "}", "")) + line[cut + 1:]
            elif action == 3:
                edited[at] = edited[at].replace("  ", "", 1) if rng.random() < 0.5 else "  " + edited[at]
            else:
                edited[at] = edited[at].replace("name: ", "name: renamed-")
        if check(BASE, "".join(edited)) is not None:
            spliced += 1
    assert spliced > 100  # the fast path is taken for many of them, not only refused
