"""Load a YAML rule file into a pydantic model, failing with file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from udfs.errors import Location, TtpflowError

M = TypeVar("M", bound=BaseModel)


class RuleFileError(TtpflowError, ValueError):
    """A rule file that cannot load: its ``location`` names the file, line and field."""


def line_of(text: str, path: tuple[Any, ...]) -> int | None:
    """Best effort: the 1-based line of the YAML node at ``path`` (keys and list indexes)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def load_yaml_model(path: Path, model: type[M]) -> M:
    text = path.read_text()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise RuleFileError(f"not valid YAML: {getattr(exc, 'problem', exc)}",
                            location=Location(str(path), line)) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(document)"
        raise RuleFileError(err["msg"], location=Location(str(path), line_of(text, loc), field)) from None
