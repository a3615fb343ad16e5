"""What durable_rules would refuse or hang on, found before it is asked (pure Python), and the
loader with that check: what `opsc validate`, `opsc test` and a reload accept.

The rules layer's check on a loaded tree: the config loader (below this layer) knows the
tree, not the rules engine it is compiled for."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.bundle import Bundle
from ..config.loader import LoadResult, load_tree, located
from ..errors import Level, Problem
from .compile import compile_rules
from .durable_limits import DEFAULT_LIMITS, check_limits


def rules_engine_limits(bundle: Bundle) -> list[Problem]:
    compiled = compile_rules(bundle)
    by_name = {r.name: r for r in compiled.rules}
    out = []
    # Every property a rule reads is on every event: durable holds at most 252 per message.
    if len(compiled.properties) > DEFAULT_LIMITS.max_properties:
        first = compiled.rules[0].source
        out.append(Problem(first.file, first.line, first.col, first.path,
                           f"the rules read {len(compiled.properties)} distinct fields; "
                           f"the rules engine takes at most {DEFAULT_LIMITS.max_properties} per alert",
                           hint="match fewer distinct custom_fields (each one is a property of every alert the rules see)"))
    for message in check_limits(compiled.rulesets):
        rule_name = message.split("rule '", 1)[1].split("'", 1)[0] if "rule '" in message else None
        src = by_name[rule_name].source if rule_name in by_name else None
        out.append(Problem(src.file if src else "rules/", src.line if src else 0, src.col if src else 0,
                           src.path if src else "$", f"the rules engine cannot take this rule: {message}",
                           hint="split long any-of lists or very complex matches into several rules"))
    return out


def validate_tree(root: str | Path, environ: Any = None, with_git: bool = True,
                  check_secrets: bool = False) -> LoadResult:
    """config.loader.load_tree, then (on a tree without errors: compiling needs one) the rules
    engine's limits."""
    result = load_tree(root, environ, with_git=with_git, check_secrets=check_secrets)
    if result.bundle is None:
        return result
    problems = list(result.problems)
    with located(problems, "rules/"):
        problems.extend(rules_engine_limits(result.bundle))
    failed = any(p.level is Level.ERROR for p in problems)
    return LoadResult(None if failed else result.bundle, tuple(sorted(set(problems))))
