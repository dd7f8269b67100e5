"""What matching works on: the file's names, the network's parameters, the outcome.

Plain data, shared by the rules (:mod:`._match`, :mod:`._order`, :mod:`._rnn`) and the
plan that turns their outcome into loads (:mod:`._plan`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple, Union

__all__ = ['FileKey', 'Matching', 'Shape', 'Target']

Shape = Union[tuple[Union[int, None], ...], None]


class FileKey(NamedTuple):
    """A name the file knows (as stored: ``'arg:conv0_weight'``) and its shape."""

    key: str
    shape: tuple[int, ...]


@dataclass
class Target:
    """One parameter of the network: every structural name it has (a tie: several,
    in the network's order), its shape (``None`` for an unknown dimension, or for no
    shape at all; or a function giving it, asked only when a rule needs shapes) and
    its 1.x global name (``None`` on MXNet 2.0)."""

    names: tuple[str, ...]
    shape_source: Union[Shape, Callable[[], Shape]]
    global_name: str | None = None

    @cached_property
    def shape(self) -> Shape:
        source = self.shape_source
        return source() if callable(source) else source


@dataclass
class Matching:
    """The outcome: ``found[i]`` lists, for target ``i``, ``(name, key)`` pairs: the
    file's key and the target name it matched by name (``None`` when it fills every
    name of the target); ``rules[i]`` says how. A key in ``parts`` stands for the
    file's keys listed there, concatenated (RNN arrays fused); ``windows[i]`` is the
    ``(start, stop)`` of target ``i``'s values in its flattened key (a fused RNN
    vector split). ``declined`` gives each rule that did not apply and why."""

    found: dict[int, list[tuple[str | None, str]]] = field(default_factory=dict)
    rules: dict[int, str] = field(default_factory=dict)
    declined: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)   # stored key -> new name
    parts: dict[str, list[str]] = field(default_factory=dict)
    windows: dict[int, tuple[int, int]] = field(default_factory=dict)
