"""What feeds the store: every source declares itself once (docs/architecture.md#adding-a-source).

A source, after Quix Streams' ``sources/base/source.py``, is a small declaration: its name, the
options it takes and ``build(store, settings)``, which returns the components that run it
(nothing when its options do not turn it on). The components keep the life cycle of
``collectors.runtime`` (start, stop, status); a source that reads given files to their end
builds components that also ``run()`` in the foreground until done.

Two kinds: ``stream`` sources run until stopped (the Kafka tap and lag poller, the OTLP
receiver); ``seamwatch collect`` and ``seamwatch up`` offer every stream source's options and
run what the options turn on. ``files`` sources read the files they are given (the file
import); ``seamwatch import`` and the demo go through them.

A source module calls :func:`register` when imported. The built-in ones are named in
:data:`BUILTIN`, in the order their options are listed, and are imported the first time
anybody asks for the sources, so a new one is its module plus one line there.

No click here: :class:`Option` is a plain declaration (the CLI turns it into a click option),
and a source can be built from a settings mapping by anything, a test or a bench, without a
command line. Options that do not go together raise :class:`UsageError`, which the CLI shows
as a usage error.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from collectors.errors import ConfigError
from collectors.runtime import Component
from collectors.store import Store

Kind = Literal["stream", "files"]
KINDS: tuple[Kind, ...] = ("stream", "files")
# Imported, in this order, before anyone is told which sources there are.
BUILTIN = ("collectors.kafka.source", "collectors.otlp.source", "collectors.import_source")


class UsageError(ConfigError):
    """Options of a source that cannot be used as given; ``option`` names the one at fault,
    when it is one alone."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class Option:
    """One setting of a source, as the command line offers it.

    ``flag`` is how it is given (``--bootstrap``, ``-X``); empty for the positional argument of
    a files source (its files). ``name`` is its key in the settings mapping ``build`` gets.
    ``kind`` says what a value is: ``text``; ``flag`` (on or off); ``int`` or ``float``, within
    ``low``..``high`` when given; ``file`` an existing file, ``dir`` an existing folder, ``path``
    any path (files are checked by the source). ``env`` is the SEAMWATCH_* variable that stands
    in for it (argument > environment > default).
    """

    flag: str
    name: str
    help: str = ""
    kind: Literal["text", "flag", "int", "float", "file", "dir", "path"] = "text"
    default: Any = None
    multiple: bool = False
    env: str | None = None
    metavar: str | None = None
    low: float | None = None
    high: float | None = None
    show_default: bool = False

    @property
    def argument(self) -> bool:
        return not self.flag

    def initial(self) -> Any:
        """The value when it is not given: its default, or nothing (an empty tuple when repeatable)."""
        if self.multiple:
            return tuple(self.default or ())
        return False if self.kind == "flag" and self.default is None else self.default


class Source(Protocol):
    name: str
    kind: Kind
    # the option that turns it on, for the sentence that says nothing was turned on
    switch: str
    options: Sequence[Option]

    def build(self, store: Store, settings: Mapping[str, Any]) -> list[Component]:
        """The components this source runs for the settings (its options' values); empty when
        the settings do not turn it on. Checks the settings (UsageError, ConfigError) and
        touches neither the store nor the network: that waits for the components' start."""
        ...


_registered: list[Source] = []
_loading = False
S = TypeVar("S", bound=Source)


def _load_builtin() -> None:
    global _loading
    if _loading:
        return
    _loading = True  # set first: the modules imported below call register() in turn
    for module in BUILTIN:
        importlib.import_module(module)


def register(source: S) -> S:
    """Add a source after the ones registered before it. Its name, and its options' flags and
    names, must be its own among the sources of its kind (they share one command line)."""
    _load_builtin()
    if source.kind not in KINDS:
        raise ValueError(f"source {source.name!r}: kind must be one of {', '.join(KINDS)}, not {source.kind!r}")
    if any(s.name == source.name for s in _registered):
        raise ValueError(f"a source named {source.name!r} is registered already")
    taken = {key: s.name for s in _registered if s.kind == source.kind for o in s.options for key in (o.flag, o.name)
             if key}
    for option in source.options:
        for key in (option.flag, option.name):
            if key and key in taken:
                raise ValueError(f"source {source.name!r}: {key} is an option of {taken[key]!r} already")
    _registered.append(source)
    return source


def unregister(source: Source) -> None:
    """Forget a registered source (a test's own, once the test is done)."""
    _registered.remove(source)


def sources(kind: Kind = "stream") -> list[Source]:
    """The registered sources of a kind: the built-in ones in BUILTIN's order (whichever was
    imported first), then the others in the order they were registered."""
    _load_builtin()
    return sorted((s for s in _registered if s.kind == kind), key=_rank)


def _rank(source: Source) -> int:
    module = type(source).__module__
    return BUILTIN.index(module) if module in BUILTIN else len(BUILTIN)


def settings_of(source: Source, given: Mapping[str, Any]) -> dict[str, Any]:
    """The source's own settings out of every option given: the given value, else its default."""
    return {o.name: given[o.name] if given.get(o.name) is not None else o.initial() for o in source.options}


def switches(kind: Kind = "stream") -> str:
    """'--bootstrap and/or --otlp': what turns the sources of a kind on, in one phrase."""
    flags = [s.switch for s in sources(kind)]
    return flags[0] if len(flags) == 1 else ", ".join(flags[:-1]) + " and/or " + flags[-1]


def build(store: Store, given: Mapping[str, Any], kind: Kind = "stream") -> list[Component]:
    """The components of every source of the kind that the given options turn on, in the
    sources' order. Every source checks its settings, whether it is turned on or not."""
    components: list[Component] = []
    for source in sources(kind):
        components.extend(source.build(store, settings_of(source, given)))
    return components


def collectors(store: Store, given: Mapping[str, Any]) -> list[Component]:
    """What `collect` and `up` run: the stream sources the options turn on, with the deriver
    in front when there is any, so that it starts first and stops last (the sources flush what
    they hold, then it derives everything pending, docs/architecture.md#the-derive-model)."""
    components = build(store, given, "stream")
    if components:
        from collectors.derive.component import Deriver

        components.insert(0, Deriver(store))
        if store.lake:  # small files merged, old snapshots and their files deleted (one collector at a time)
            from collectors.store.lake_maintenance import LakeMaintenance

            components.append(LakeMaintenance(store))
    return components
