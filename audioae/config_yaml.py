"""Bounded YAML for configs: at most ``MAX_YAML_BYTES`` bytes, no anchors or aliases, at most
``MAX_CONFIG_NODES`` nodes nested ``MAX_CONFIG_DEPTH`` deep, plain data only (never Python
objects, never an OmegaConf interpolation). Recipes, ``--set`` values and the configs stored
in model files all go through :func:`load_yaml` or :func:`check_plain_data`.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_YAML_BYTES = 1 << 20
MAX_CONFIG_NODES = 10_000
MAX_CONFIG_DEPTH = 32


class ConfigError(ValueError):
    """A recipe or override is invalid; the message names the key and the valid choices."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader without anchors and aliases (the "billion laughs" expansion), with
    at most ``MAX_CONFIG_NODES`` nodes nested at most ``MAX_CONFIG_DEPTH`` deep."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else "?"
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ConfigError(
                f"YAML anchors and aliases (&name, *name) are not allowed (line {line})"
            )
        self._nodes += 1
        if self._nodes > MAX_CONFIG_NODES:
            raise ConfigError(f"more than {MAX_CONFIG_NODES} YAML nodes (line {line})")
        self._depth += 1
        try:
            if self._depth > MAX_CONFIG_DEPTH:
                raise ConfigError(
                    f"YAML nested deeper than {MAX_CONFIG_DEPTH} levels (line {line})"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str | bytes, source: str = "YAML", key: str = "") -> Any:
    """Parse YAML config text with bounds: at most ``MAX_YAML_BYTES`` bytes, no anchors or
    aliases, at most ``MAX_CONFIG_NODES`` nodes and ``MAX_CONFIG_DEPTH`` levels; then
    :func:`check_plain_data`. Safe (plain data only, never Python objects).

    Raises:
        ConfigError: too large, not valid YAML (the message gives the line and column), an
            alias or anchor, too many nodes or levels, a key given twice in one mapping (the
            key and both lines), or an interpolation ``${...}``; one line starting with
            ``source``.
    """
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{source}: {size} bytes of YAML, more than the limit {MAX_YAML_BYTES}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text ({exc})") from None
    loader = None
    try:
        loader = _BoundedLoader(text)  # a SafeLoader subclass: no Python objects, no aliases
        node = loader.get_single_node()
        check_duplicate_keys(node, key)
        data = None if node is None else loader.construct_document(node)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(f"{source}: {_yaml_problem(exc)}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{source}: not valid YAML: {first_line}") from None
    finally:
        if loader is not None:
            loader.dispose()
    check_plain_data(data, source, key)
    return data


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's multi-line syntax error as one line: where, what, and what it was reading."""
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = exc.problem or exc.context or "syntax error"
    context = ""
    if exc.context and exc.problem:
        started = exc.context_mark
        context = f" ({exc.context}" + (f" started on line {started.line + 1})" if started else ")")
    hint = "; indent with spaces, not tabs" if "'\\t'" in problem else ""
    return f"not valid YAML{where}: {problem}{context}{hint}"


def check_duplicate_keys(node: yaml.Node | None, key: str = "") -> None:
    """Refuse a key given twice in one YAML mapping (PyYAML would silently keep the last).

    ``node`` is a composed YAML node tree (already bounded by the loader); ``key`` names it
    in messages. Keys are compared as written (tag and text), so ``a`` and ``'a'`` are the
    same key.

    Raises:
        ConfigError: naming the key (its dotted path) and the lines of both occurrences.
    """
    stack: list[tuple[yaml.Node | None, str]] = [(node, key)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
        if not isinstance(node, yaml.MappingNode):
            continue
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a mapping or list as a key: refused when the document is built
            child = f"{path}.{key_node.value}" if path else key_node.value
            line = key_node.start_mark.line + 1
            same = (key_node.tag, key_node.value)
            if same in seen:
                fix = (
                    "merge the two sections into one"
                    if isinstance(value_node, yaml.MappingNode)
                    else "delete one"
                )
                lines = f"line {line}" if seen[same] == line else f"lines {seen[same]} and {line}"
                raise ConfigError(
                    f"{child}: given twice ({lines}); YAML would keep only the last one, so {fix}"
                )
            seen[same] = line
            stack.append((value_node, child))


def check_plain_data(data: Any, source: str = "config", key: str = "") -> None:
    """Check config data before OmegaConf sees it: at most ``MAX_CONFIG_NODES`` nodes
    (shared sub-objects counted each time they occur) and ``MAX_CONFIG_DEPTH`` levels,
    string keys, and no string containing an OmegaConf interpolation ``${`` (which would
    read environment variables or other keys when the config is resolved). ``key`` names
    ``data`` in messages (e.g. ``"model"`` for a section).

    Raises:
        ConfigError: naming ``source`` and the key.
    """
    count = 0
    stack: list[tuple[Any, str, int]] = [(data, key, 0)]
    while stack:
        node, key, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_NODES:
            raise ConfigError(f"{source}: more than {MAX_CONFIG_NODES} values")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{source}: {key}: nested deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise ConfigError(f"{source}: {key or 'top level'}: key {k!r} is not a string")
                stack.append((v, f"{key}.{k}" if key else k, depth + 1))
        elif isinstance(node, list | tuple):
            for i, v in enumerate(node):
                stack.append((v, f"{key}[{i}]", depth + 1))
        elif isinstance(node, str) and "${" in node:
            raise ConfigError(
                f"{source}: {key or 'value'}: {node[:80]!r} contains an interpolation '${{'; "
                "configs are plain data and are never resolved (write the value itself)"
            )
