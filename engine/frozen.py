"""A faster __init__ for the frozen dataclasses made once or more per event.

A frozen dataclass's generated __init__ sets each field through object.__setattr__ (the
class's own __setattr__ refuses): for an Alert's 31 fields that is about 2.5 times the
cost of building the instance dict in one go, and the pipeline makes several alerts,
decisions and candidates per event. `quick_init` replaces __init__ with one that has the
same signature (positional and keyword, defaults, default factories) and assigns the
instance dict at once. Everything else of the dataclass (eq, hash, repr, replace, pickle)
is untouched; tests/test_frozen.py compares both constructors for every class using it.
"""
from __future__ import annotations

import dataclasses
from typing import TypeVar

T = TypeVar("T")

_NO_VALUE = object()  # stands for "not given" where a field has a default factory


def quick_init(cls: type[T]) -> type[T]:
    """Class decorator, applied above @dataclass(frozen=True)."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: quick_init does not run __post_init__")
    namespace: dict[str, object] = {"_set": object.__setattr__, "_NO_VALUE": _NO_VALUE}
    params, factories, items = [], [], []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            value = f"_default_{f.name}"
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            value = "_NO_VALUE"
        else:
            value = ""
        if f.init:
            params.append(f"{f.name}={value}" if value else f.name)
            if f.default_factory is not dataclasses.MISSING:
                factories.append(f"    if {f.name} is _NO_VALUE:\n        {f.name} = _factory_{f.name}()\n")
            items.append(f"{f.name!r}: {f.name}")
        elif value == "_NO_VALUE":
            items.append(f"{f.name!r}: _factory_{f.name}()")
        elif value:
            items.append(f"{f.name!r}: {value}")
    source = (f"def __init__(self, {', '.join(params)}):\n" + "".join(factories)
              + f"    _set(self, '__dict__', {{{', '.join(items)}}})\n")
    exec(source, namespace)  # noqa: S102 (built from the class's own field names only)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    init.__doc__ = f"{cls.__name__}'s dataclass __init__, assigning its fields in one step."
    cls.__init__ = init  # type: ignore[method-assign,assignment]  # the generated one, same signature
    return cls
