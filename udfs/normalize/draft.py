"""From a parser's draft (a plain dict in the shape of :class:`Event`) to the validated record.

Why not ``Event.model_validate(draft).to_record()``: on a Sysmon process event that pair costs about
25 µs (a dozen model instances built, then serialized back to dicts), more than all the parsing.
Instead, at import time, every model of :mod:`schemas.event` is mirrored as a ``TypedDict`` with the
*same* annotations, constraints (``ge``/``le``), ``extra="forbid"`` and field validators (taken from
the models themselves, not restated), and the draft is validated against that mirror: the same
rules, checked by pydantic-core, producing dicts directly (about 5 µs), with the models' defaults
filled in field order; the serializer then drops ``None`` values in Rust. That is exactly what
``Event.to_record`` does.
``tests/unit/test_normalize_model.py`` checks, on every fixture, that the result equals
``Event.model_validate(record).to_record()``.

Two parts bypass the mirror, for speed and with no loss: ``origin`` arrives as a validated
:class:`Origin` instance, and ``original`` is ``dict[str, Any]`` (its only rule, string keys, holds
for a decoded JSON object and for the dicts text parsers build).
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, NotRequired, Required, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict

from schemas.event import Event, Origin

_MIRRORS: dict[type[BaseModel], Any] = {}


def _mirror_type(tp: Any) -> Any:
    """``tp`` with every BaseModel replaced by its TypedDict mirror (inside unions and lists too)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _mirror(tp)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return Union[tuple(_mirror_type(a) for a in get_args(tp))]  # noqa: UP007 - built at runtime
    if origin is list:
        return list[_mirror_type(get_args(tp)[0])]  # type: ignore[misc]
    return tp


def _default(info: FieldInfo) -> FieldInfo | None:
    """The model field's default, in record form (a default sub-model becomes its dict).

    ``None`` defaults are left out: an absent key and a ``None`` both vanish from the record, and not
    filling a dozen ``None`` values per sub-object halves the validation time.
    """
    factory = info.default_factory
    if factory is None:
        return None if info.default is None else Field(default=info.default)
    probe = factory()  # type: ignore[call-arg]
    if isinstance(probe, BaseModel):
        # Built once: constructing and dumping a model per record would cost ~2 µs per default.
        template = probe.model_dump(exclude_none=True)
        if any(isinstance(v, dict) for v in template.values()):
            return Field(default_factory=lambda: _fresh(template))
        # The defaults in use are flat ({"ip": []}): copy just their lists.
        return Field(default_factory=lambda: {k: v.copy() if type(v) is list else v for k, v in template.items()})
    return Field(default_factory=factory)


def _fresh(value: Any) -> Any:
    """A copy of a default template whose lists and dicts the record may own (and later mutate)."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _mirror(model: type[BaseModel]) -> Any:
    if model in _MIRRORS:
        return _MIRRORS[model]
    name = f"{model.__name__}Record"
    _MIRRORS[model] = typing.ForwardRef(name)  # self-references (User.target) resolve by name
    validators: dict[str, list[Any]] = {}
    for deco in model.__pydantic_decorators__.field_validators.values():
        if deco.info.mode != "after":  # the models only use "after" validators; fail loudly otherwise
            raise TypeError(f"{model.__name__}: the mirror supports only mode='after' validators")
        for field_name in deco.info.fields:
            validators.setdefault(field_name, []).append(AfterValidator(deco.func))
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        extras = [*info.metadata, *validators.get(field_name, [])]
        if info.is_required():
            fields[field_name] = (
                Required[Annotated[_mirror_type(info.annotation), *extras]]
                if extras
                else Required[_mirror_type(info.annotation)]
            )
        else:
            default = _default(info)
            if default is not None:
                extras.append(default)
            annotation = _mirror_type(info.annotation)
            fields[field_name] = NotRequired[Annotated[annotation, *extras]] if extras else NotRequired[annotation]
    mirror = TypedDict(name, fields)  # type: ignore[operator]
    mirror.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    mirror.__module__ = __name__
    globals()[name] = mirror  # where pydantic resolves the forward references
    _MIRRORS[model] = mirror
    return mirror


_ADAPTER: TypeAdapter[Any] = TypeAdapter(_mirror(Event))
_validate = _ADAPTER.validate_python
_dump = _ADAPTER.serializer.to_python


def finish(draft: dict[str, Any]) -> dict[str, Any]:
    """Validate ``draft`` against the :class:`Event` rules and return its record (``to_record`` form)."""
    original = draft.pop("original", None)
    if original is None:
        original = {}
    elif not isinstance(original, dict):  # a parser bug, not bad input: fail loudly in tests
        raise TypeError(f"original must be a dict, got {type(original).__name__}")
    origin = draft.pop("origin", None)
    if origin is None:
        origin = Origin()
    elif not isinstance(origin, Origin):
        origin = Origin.model_validate(origin)
    # Validation fills defaults in field order; the Rust serializer then drops the Nones.
    record: dict[str, Any] = _dump(_validate(draft), exclude_none=True)
    # Origin holds only scalars: its __dict__ is its dump, at a third of model_dump's cost.
    record["origin"] = {k: v for k, v in origin.__dict__.items() if v is not None}
    record["original"] = original
    return record
