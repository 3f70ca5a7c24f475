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
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from .base import HarnessError, Method
from .irgen.identifiers import identifier_labels  # names and labels only: no torch
from .runtime.overrides import preset_alias

# A search backend's build parameter that makes another kind of index, with a name of its own in the
# sweeps, tables and figures: kind -> (backend, build parameter, its value). Here, not in
# methods.backends, so that the reports read it without importing a backend.
BACKEND_KINDS = {"diskann-disk": ("diskann", "disk", True)}

DEFAULT_BEAMS = (1, 10, 20, 30)  # the paper's beam sizes (Figure 5, Tables 1-2)

# The method flags one method takes and another does not; a command refuses one given to a method
# that does not take it. The others (--set, --config, --weights, the run's flags) apply to every method.
SEARCH_FLAGS = ("backend", "backend-param", "sweep")  # a feature model searched by a backend
IRGEN_FLAGS = ("beam", "identifier", "seq-len", "untrained", "compile")
TRAINING_FLAGS = ("checkpoint-every", "amp")  # taken by every method that trains
METHOD_FLAGS = SEARCH_FLAGS + IRGEN_FLAGS + ("fresh",) + TRAINING_FLAGS


@dataclass(frozen=True)
class ModelField:
    """One field of what a method's ``model_fields()`` writes (the results' ``model`` column), as
    the reports show it. A row's name says each field (a field no spec lists as ``name=value``):
    the value in ``words`` (or the value with its ``unit``) where the field has either, else
    ``name=value``; never the ``default`` value, nor a field not ``said`` (a note says it).

    ``headline``: for a field one of the paper's ablations varies, the value of the headline rows
    (Tables 1, 2, 5 and the figures; where no row has it, the smallest that ran); ``paper``: the
    values that run the paper's model (a paper column may sit beside such a row; the first is
    preferred where several ran); ``notes``: value -> a note under any table holding such a row."""

    name: str
    words: Mapping[str, str] = field(default_factory=dict)
    unit: str = ""
    default: object = None
    headline: object = None
    paper: tuple = ()
    notes: Mapping[str, str] = field(default_factory=dict)
    said: bool = True

    def value(self, fields: dict):
        """This field's value in a model's ``fields`` (its default where they leave it out)."""
        return fields.get(self.name, self.default)

    def words_for(self, value) -> str:
        """The value as a row's name says it: ``small``, ``64 px``, ``T=4``, ``untrained``."""
        if self.words or self.unit:
            return f"{self.words.get(value, value)}{' ' + self.unit if self.unit else ''}"
        return self.name if value is True else f"{self.name}={value}"


def field_words(name: str, value) -> str:
    """A field no spec describes, as a row's name says it."""
    return ModelField(name).words_for(value)


@dataclass(frozen=True)
class MethodSpec:
    """One method, as every part of the harness sees it.

    ``build`` is the module whose ``build(name, options)`` makes the Method (imported only
    when the method is built). ``flags`` are the method flags of ``METHOD_FLAGS`` it reads
    (a method that ``trains`` takes ``TRAINING_FLAGS`` as well). ``label`` and ``color`` are
    how tables and figures name and draw it (no colour: a spare one of its own). ``model`` is,
    for a feature model searched by a backend, ``(module, model class, config class)``.
    ``fields`` say how the reports show what its ``Method.model_fields()`` writes; ``generative``:
    it writes its results by generating identifiers (its settings are beams: IRGen), not by a
    search backend over features.
    """

    name: str
    build: str
    label: str
    color: str | None = None
    flags: tuple[str, ...] = ()
    trains: bool = False
    model: tuple[str, str, str] | None = None
    fields: tuple[ModelField, ...] = ()
    generative: bool = False

    def __post_init__(self):
        unknown = [f for f in self.flags if f not in METHOD_FLAGS]
        if unknown:
            raise ValueError(f"method {self.name}: unknown flag(s) {', '.join(unknown)}; "
                             f"method flags are {', '.join(METHOD_FLAGS)}")

    @property
    def searched_by_backend(self) -> bool:
        """A feature model searched by a backend: its rows name the backend."""
        return "backend" in self.flags

    def model_field(self, name: str) -> ModelField:
        """The description of its field ``name`` (a plain one where it lists none)."""
        return next((f for f in self.fields if f.name == name), ModelField(name))

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


# the fields of the model column, as the methods below write them
FRESH = ModelField("fresh", default=0, headline=0)  # the share of the database held out of training (Table 6)
INPUT_PX = ModelField("input_px", unit="px")  # the side of the images the model reads
FEATURE_FIELDS = (ModelField("preset", {"paper": "paper size", "small": "small size"}, paper=("paper",)), INPUT_PX,
                  FRESH)
IRGEN_PRESET = ModelField("preset", {"official": "official recipe", "paper": "paper text", "small": "small"},
                          paper=("official", "paper"))  # the authors' released code, the paper's text, the CPU preset
HKM_NOTE = ("HKM_k rows cluster f_cls of IRGen's own tokenizer encoder (fine-tuned on the train split), not "
            "FT-CLIP features as the paper does; T defaults to the paper's 4 / 3 / 2 for k = 100 / 200 / 500.")
RQVAE_NOTE = ("RQ-VAE-style identifiers are a latent grid over the encoder's stem map (2x2 cells x depth 4), "
              "not the paper's 8x8 x depth 4 over pixels.")
IRGEN_FIELDS = (
    IRGEN_PRESET,
    ModelField("encoder", {"effnet": "EfficientNet-Lite0", "vit": "ViT from scratch", "clip-vit-b16": "CLIP ViT-B/16"}),
    INPUT_PX,
    ModelField("identifier", identifier_labels(), default="rq", headline="rq",
               notes={**{k: HKM_NOTE for k in ("hkm100", "hkm200", "hkm500")}, "rqvae": RQVAE_NOTE}),
    ModelField("T", headline=4),
    FRESH,
    ModelField("min_steps", said=False),  # a note gives the steps a model trained under its preset's floor
)


def feature_method(name: str, model: tuple[str, str, str], label: str, color: str, trains: bool) -> MethodSpec:
    """A feature model (``model``: module, class, config class) searched by a backend."""
    return MethodSpec(name, "methods.features.feature_search", label, color, SEARCH_FLAGS + ("fresh",), trains,
                      model, FEATURE_FIELDS)


BUILT_IN = (
    MethodSpec("irgen", "methods.irgen.method", "IRGen", "#d62728", IRGEN_FLAGS + ("fresh",), trains=True,
               fields=IRGEN_FIELDS, generative=True),
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
               trains=True, fields=(IRGEN_PRESET, INPUT_PX, FRESH)),
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
