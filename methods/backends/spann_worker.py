"""SPTAG SPANN worker: runs inside the Python 3.9 venv that ``setup/sptag.sh`` creates
(the ``sptag`` wheel exists for 3.9 only) and serves one SPANN index to the main
process (``methods/backends/spann.py``).

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout;
arrays travel as .npy files whose paths are in the messages. Replies carry
``"ok": true`` or ``"ok": false, "error": "..."``. Commands:

* ``{"cmd": "build", "data": X.npy, "index_dir": D, "metric": "l2"|"cosine",
  "params": {section: {name: value}}}`` -- select heads, build the head index and the
  on-disk posting lists into D, save, then load D for serving (as ``load`` does).
* ``{"cmd": "load", "index_dir": D}``
* ``{"cmd": "search", "queries": Q.npy, "k": k, "params": {name: value}, "out": prefix}``
  -- writes ``prefix.ids.npy`` (int64, -1 where fewer than k were found) and
  ``prefix.dists.npy``; replies with ``"seconds"``, the time of the search call alone.
* ``{"cmd": "quit"}``

``python spann_worker.py --check`` imports sptag and exits 0 (set-up and the backend, once per
process, use it); on a processor without AVX-512 the import dies of SIGILL, as the wheel's code is
AVX-512 throughout.

SPTAG's C++ code logs to file descriptor 1, so the worker moves fd 1 onto stderr at
start and keeps a private duplicate of the real stdout for the protocol.

Must stay Python 3.9 compatible and import nothing from this repository.
"""
import ctypes
import importlib.util
import json
import os
import sys
import sysconfig
import time
import traceback

INVALID_DISTANCE = 1e37  # SPTAG marks empty result slots with id -1 and ~FLT_MAX / 10
SEARCH_SECTION = "BuildSSDIndex"
LOADER_FILE = "indexloader.ini"


def preload_libraries():
    """Make ``import sptag.SPTAG`` work without LD_LIBRARY_PATH.

    The wheel's ``_SPTAG.so`` needs ``libSPTAGLib.so`` (beside it in the package) and
    ``libpython3.9.so.1.0`` (in this interpreter's LIBDIR), but carries a RUNPATH from
    the machine it was built on. Loading both with RTLD_GLOBAL first lets the dynamic
    loader find them by soname -- the same effect as
    ``LD_LIBRARY_PATH=<site-packages>/sptag:<python prefix>/lib``.
    """
    spec = importlib.util.find_spec("sptag")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the sptag package is not installed in %s: run setup/sptag.sh" % sys.prefix)
    package = list(spec.submodule_search_locations)[0]
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    soname = sysconfig.get_config_var("INSTSONAME") or ""
    libpython = os.path.join(libdir, soname)
    if soname and os.path.exists(libpython):
        ctypes.CDLL(libpython, mode=ctypes.RTLD_GLOBAL)
    ctypes.CDLL(os.path.join(package, "libSPTAGLib.so"), mode=ctypes.RTLD_GLOBAL)


def import_sptag():
    preload_libraries()
    from sptag import SPTAG  # noqa: E402 (needs the preload)
    return SPTAG


def set_loader_values(index_dir, values):
    """Rewrite ``name=value`` lines of indexloader.ini (SPTAG reads its paths and the
    size of its search buffers from there when it loads an index)."""
    path = os.path.join(index_dir, LOADER_FILE)
    with open(path) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        name = line.split("=", 1)[0]
        if "=" in line and name in values:
            lines[i] = "%s=%s" % (name, values[name])
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class Worker:
    def __init__(self, sptag):
        self.SPTAG = sptag
        self.index = None

    def build(self, data, index_dir, metric, params):
        import numpy as np

        X = np.ascontiguousarray(np.load(data), dtype=np.float32)
        index = self.SPTAG.AnnIndex("SPANN", "Float", X.shape[1])
        index.SetBuildParam("IndexDirectory", index_dir, "Base")
        index.SetBuildParam("DistCalcMethod", "Cosine" if metric == "cosine" else "L2", "Base")
        for section, values in params.items():
            for name, value in values.items():
                index.SetBuildParam(name, str(value), section)
        start = time.perf_counter()
        # normalized=True for cosine: the main process sends unit vectors already
        if not index.Build(X, X.shape[0], metric == "cosine"):
            raise RuntimeError("SPTAG could not build the SPANN index (see the worker log above)")
        if not index.Save(index_dir):
            raise RuntimeError("SPTAG could not save the SPANN index to %s" % index_dir)
        seconds = time.perf_counter() - start
        del index
        reply = self.load(index_dir)
        reply["seconds"] = seconds
        return reply

    def load(self, index_dir):
        index_dir = os.path.abspath(index_dir)
        set_loader_values(index_dir, {"IndexDirectory": index_dir})
        index = self.SPTAG.AnnIndex.Load(index_dir)
        if index is None or not index.ReadyToServe():
            raise RuntimeError("SPTAG could not load a SPANN index from %s" % index_dir)
        self.index = index
        return {}

    def search(self, queries, k, params, out):
        import numpy as np

        if self.index is None:
            raise RuntimeError("no index: send build or load first")
        Q = np.ascontiguousarray(np.load(queries), dtype=np.float32)
        for name, value in params.items():
            self.index.SetSearchParam(name, str(value), SEARCH_SECTION)
            if name == "MaxCheck":  # the head index's own search budget
                self.index.SetSearchParam(name, str(value), "BuildHead")
        start = time.perf_counter()
        ids, dists, _ = self.index.BatchSearch(Q, Q.shape[0], k, False)
        seconds = time.perf_counter() - start
        ids = np.asarray(ids, dtype=np.int64).reshape(len(Q), k)
        dists = np.asarray(dists, dtype=np.float32).reshape(len(Q), k)
        empty = (ids < 0) | (dists >= INVALID_DISTANCE)
        ids[empty] = -1
        dists[empty] = np.inf
        np.save(out + ".ids.npy", ids)
        np.save(out + ".dists.npy", dists)
        return {"seconds": seconds}


def serve(protocol_out):
    worker = Worker(import_sptag())
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            cmd = request.pop("cmd")
            if cmd == "quit":
                reply = {"ok": True}
            elif cmd in ("build", "load", "search"):
                reply = getattr(worker, cmd)(**request)
                reply["ok"] = True
            else:
                raise ValueError("unknown command %r" % cmd)
        except Exception as err:  # reported to the main process, which raises it there
            traceback.print_exc(file=sys.stderr)
            reply = {"ok": False, "error": "%s: %s" % (type(err).__name__, err)}
            cmd = None
        protocol_out.write(json.dumps(reply) + "\n")
        protocol_out.flush()
        if cmd == "quit":
            break


def main():
    if "--check" in sys.argv:
        sptag = import_sptag()
        print("sptag importable: %s" % sptag.__file__)
        return 0
    protocol_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # SPTAG's C++ logging goes to fd 1: send it to stderr
    sys.stdout = sys.stderr
    serve(protocol_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
