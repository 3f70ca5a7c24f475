"""Methods by name, each described once by a ``MethodSpec``: how it is built, which method
flags it takes, whether it trains, and how the reports name and draw it. The registry,
``bench.train``, the grid, the commands' flag checks (``bench/cli.py``) and the report's
names (``bench/report/names.py``) all read these descriptions; nothing else lists methods.

Adding a method is a module exposing ``build(name, options) -> Method`` and one
``MethodSpec`` in ``BUILT_IN`` here, or, outside this repository, a module of your own that
calls ``register(MethodSpec(...))`` and is named in ``$IRGEN_PLUGINS`` (comma-separated
module names, imported before any method is looked up; every command and every grid cell,
which runs as a child process, imports them)."""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field, fields, replace

from .base import HarnessError, Method
from .runtime.overrides import preset_alias

DEFAULT_BEAMS = (1, 10, 20, 30)  # the paper's beam sizes (Figure 5, Tables 1-2)

# The method flags one method takes and another does not; a command refuses one given to a method
# that does not take it. The others (--set, --config, --weights, the run's flags) apply to every method.
SEARCH_FLAGS = ("backend", "backend-param", "sweep")  # a feature model searched by a backend
IRGEN_FLAGS = ("beam", "identifier", "seq-len", "untrained", "compile")
TRAINING_FLAGS = ("checkpoint-every", "amp")  # taken by every method that trains
METHOD_FLAGS = SEARCH_FLAGS + IRGEN_FLAGS + ("fresh",) + TRAINING_FLAGS


@dataclass(frozen=True)
class MethodSpec:
    """One method, as every part of the harness sees it.

    ``build`` is the module whose ``build(name, options)`` makes the Method (imported only
    when the method is built). ``flags`` are the method flags of ``METHOD_FLAGS`` it reads
    (a method that ``trains`` takes ``TRAINING_FLAGS`` as well). ``label`` and ``color`` are
    how tables and figures name and draw it (no colour: a spare one of its own). ``model`` is,
    for a feature model searched by a backend, ``(module, model class, config class)``.
    """

    name: str
    build: str
    label: str
    color: str | None = None
    flags: tuple[str, ...] = ()
    trains: bool = False
    model: tuple[str, str, str] | None = None

    def __post_init__(self):
        unknown = [f for f in self.flags if f not in METHOD_FLAGS]
        if unknown:
            raise ValueError(f"method {self.name}: unknown flag(s) {', '.join(unknown)}; "
                             f"method flags are {', '.join(METHOD_FLAGS)}")

    @property
    def takes(self) -> tuple[str, ...]:
        """Every method flag this method reads."""
        return self.flags + (TRAINING_FLAGS if self.trains else ())

    def refuse(self, given: list[str]) -> None:
        """One line naming the method and the flags it takes, for flags ``given`` that it does not."""
        untaken = [f for f in given if f not in self.takes]
        if untaken:
            takes = ", ".join(f"--{f}" for f in self.takes) or "none of the method flags"
            raise HarnessError(f"--method {self.name} does not take {', '.join(f'--{f}' for f in untaken)}; "
                               f"it takes {takes} (and --set / --config for its config)")


def feature_method(name: str, model: tuple[str, str, str], label: str, color: str, trains: bool) -> MethodSpec:
    """A feature model (``model``: module, class, config class) searched by a backend."""
    return MethodSpec(name, "methods.features.feature_search", label, color, SEARCH_FLAGS + ("fresh",), trains, model)


BUILT_IN = (
    MethodSpec("irgen", "methods.irgen.method", "IRGen", "#d62728", IRGEN_FLAGS + ("fresh",), trains=True),
    feature_method("ftclip", ("methods.features.ftclip", "FTClip", "FTClipConfig"), "FT-CLIP", "#1f77b4", True),
    feature_method("clip", ("methods.features.clip", "Clip", "ClipConfig"), "CLIP", "#17becf", False),
    feature_method("cgd", ("methods.features.cgd", "CGD", "CGDConfig"), "CGD", "#2ca02c", True),
    feature_method("irt", ("methods.features.irt", "IRT", "IRTConfig"), "IRT_R", "#9467bd", True),
    feature_method("res101", ("methods.features.res101", "Res101", "Res101Config"), "Res101-Img", "#8c564b", False),
    feature_method("effnet", ("methods.features.effnet", "EffNet", "EffNetConfig"), "EfficientNet-Lite0 (ImageNet)",
                   "#ff7f0e", False),
    feature_method("smallcnn", ("methods.features.smallcnn", "SmallCNN", "SmallCNNConfig"), "SmallCNN", "#7f7f7f",
                   True),
    MethodSpec("irgen-enc", "methods.irgen.method", "IRGen's encoder (f_cls)", "#e377c2", SEARCH_FLAGS + ("fresh",),
               trains=True),
)
METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in BUILT_IN}
_plugins_loaded = False


@dataclass
class MethodOptions:
    """What the command line says about a method; each builder reads what applies to it (the
    commands refuse a flag the method does not take, and ``make_method`` a field)."""

    backend: str = field(default="linear", metadata={"flag": "backend"})
    # the backend's build parameters (--backend-param)
    backend_params: dict = field(default_factory=dict, metadata={"flag": "backend-param"})
    sweep: bool = field(default=False, metadata={"flag": "sweep"})  # sweep the backend's query parameters
    beams: tuple[int, ...] = field(default=DEFAULT_BEAMS, metadata={"flag": "beam"})
    identifier: str = field(default="rq", metadata={"flag": "identifier"})
    seq_len: int | None = field(default=None, metadata={"flag": "seq-len"})
    fresh: float = field(default=0.0, metadata={"flag": "fresh"})
    # a randomly initialised model of the configured size (speed tools)
    untrained: bool = field(default=False, metadata={"flag": "untrained"})
    overrides: dict = field(default_factory=dict)  # --set key=value on the method's config

    def given(self) -> list[str]:
        """The method flags these options set away from their defaults."""
        default = MethodOptions()
        return [f.metadata["flag"] for f in fields(self) if "flag" in f.metadata
                and getattr(self, f.name) != getattr(default, f.name)]


def register(spec: MethodSpec) -> None:
    """Make ``--method spec.name`` build its method with ``spec.build``'s ``build(name, options)``."""
    METHODS[spec.name] = spec


def load_plugins() -> None:
    """Import the modules named in ``$IRGEN_PLUGINS`` once (they register their methods)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get("IRGEN_PLUGINS", "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise HarnessError(f"$IRGEN_PLUGINS names {module!r}, which cannot be imported ({e}); "
                               f"fix the name or its sys.path") from None


def method_names() -> list[str]:
    load_plugins()
    return sorted(METHODS)


def describe(name: str) -> MethodSpec:
    """The description of method ``name``, or a one-line error listing the methods."""
    load_plugins()
    if name not in METHODS:
        raise HarnessError(f"unknown method {name!r}: choose one of {', '.join(method_names())}")
    return METHODS[name]


def trainable() -> list[str]:
    """The methods bench.train trains."""
    return [name for name in method_names() if METHODS[name].trains]


def make_method(name: str, options: MethodOptions) -> Method:
    spec = describe(name)
    spec.refuse(options.given())
    options = replace(options, overrides=preset_alias(options.overrides))
    method = importlib.import_module(spec.build).build(name, options)
    method.name = name
    return method
