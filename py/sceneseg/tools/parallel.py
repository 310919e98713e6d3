"""Run one function over many photos with one ``Segmenter`` per worker: in this process,
in processes over all cores, or on a Ray cluster. Folder labelling (``batch``) and
evaluation (``eval``) share it.

    spec = ModelSpec.prepare(manifest, "q8", cache_dir, model_dir)
    for key, outcome in run(spec, work, items, jobs=4):      # or ray_address="auto"
        ...  # outcome is work's return value, or a Failure

``work(segmenter, payload)`` is a module-level function (it is pickled by reference);
``items`` are ``(key, load)`` pairs: ``load()`` runs here and returns the payload (file bytes),
so remote workers need no shared file system. Results come back in completion order, with
only a few payloads in flight at a time (memory stays flat over thousands of photos). An
exception in ``load`` or ``work`` becomes a ``Failure`` for that item; the others go on.

On Ray, each actor holds one model session; the weights travel once through Ray's object
store and the photos as bytes, so nodes need neither the model files nor the photos, only
numpy, Pillow and onnxruntime (``pip install 'sceneseg[native]'``; this package's own code
is shipped to them as a ``py_modules`` runtime environment). ``ray_address``: ``"local"``
starts Ray on this machine for the run; ``"auto"`` joins the cluster this machine is a node
of (after ``ray start --address=HEAD:6379``); ``"ray://HEAD:10001"`` connects as a client.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .manifest import CONFIG_FILES, FetchError, Manifest, sha256_file


@dataclass(frozen=True)
class Failure:
    message: str


@dataclass(frozen=True)
class ModelSpec:
    """Everything a worker needs to build its own Segmenter (picklable)."""

    model_id: str
    precision: str
    model_dir: str  # verified local copies of the files
    weights: str  # file name inside model_dir
    threads: int | None = None
    standin: bool = False
    provider: str = "cpu"  # --provider: native.PROVIDER_CHOICES
    sha256: str | None = None  # the weights' pinned sha256: every summary's model.sha256

    @classmethod
    def prepare(
        cls,
        manifest: Manifest,
        precision: str,
        cache_dir: Path,
        local_dir: Path | None,
        *,
        allow_unpinned: bool = False,
        threads: int | None = None,
        provider: str = "cpu",
    ) -> ModelSpec:
        """Fetch and verify the model's files into ``cache_dir / <id>``."""
        if precision not in manifest.precisions:
            raise FetchError(
                f"{manifest.id} has no {precision} file (it has: {', '.join(manifest.precisions)})"
            )
        target = Path(cache_dir) / manifest.id
        weights = manifest.precisions[precision]
        for name in (*CONFIG_FILES, weights):
            path = manifest.fetch(name, target / name, local_dir, allow_unpinned=allow_unpinned)
            if not manifest.files[name].pinned:
                print(
                    f"note: {manifest.id}: {name} is unpinned; accepted by content, "
                    f"sha256 {sha256_file(path)}",
                    file=sys.stderr,
                )
        return cls(
            manifest.id, precision, str(target), weights, threads, manifest.standin, provider,
            manifest.files[weights].sha256,
        )  # fmt: skip

    @property
    def label(self) -> str:
        return f"{self.model_id} {self.precision}"

    def segmenter(self, weights_path: str | None = None):
        from ..model import ModelInfo
        from ..pipeline import Segmenter
        from .native import OnnxRuntimeBackend

        path = weights_path or str(Path(self.model_dir) / self.weights)
        backend = OnnxRuntimeBackend(
            path, threads=self.threads, label=self.precision, provider=self.provider
        )
        # The same model record as the page's (browser.init's model_file): summaries name it.
        model_file = {
            "id": self.model_id, "file": self.weights, "sha256": self.sha256,
            "precision": self.precision,
        }  # fmt: skip
        return Segmenter(ModelInfo.from_dir(self.model_dir), backend, model_file)

    def configs(self) -> dict[str, str]:
        return {n: (Path(self.model_dir) / n).read_text(encoding="utf-8") for n in CONFIG_FILES}


Work = Callable[[object, object], object]
Item = tuple[str, Callable[[], object]]


def run(
    spec: ModelSpec,
    work: Work,
    items: Iterable[Item],
    *,
    jobs: int = 1,
    ray_address: str | None = None,
) -> Iterator[tuple[str, object]]:
    if ray_address is not None:
        yield from _run_ray(spec, work, items, jobs, ray_address)
    elif jobs <= 1:
        segmenter = spec.segmenter()
        for key, load in items:
            yield key, _call(segmenter, work, load)
    else:
        yield from _run_processes(spec, work, items, jobs)


def _call(segmenter, work: Work, load: Callable[[], object]):
    try:
        payload = load()
    except OSError as exc:
        return Failure(f"cannot read it ({exc.strerror or exc})")
    return _work(segmenter, work, payload)


def _work(segmenter, work: Work, payload):
    from ..processing import ImageError

    try:
        return work(segmenter, payload)
    except (ImageError, ValueError, OSError) as exc:
        return Failure(str(exc))
    except Exception as exc:  # one bad photo never stops the batch; say what happened
        return Failure(f"{type(exc).__name__}: {exc}")


# --- processes -------------------------------------------------------------------------

_SEGMENTER = None


def _process_init(spec: ModelSpec) -> None:
    global _SEGMENTER
    _SEGMENTER = spec.segmenter()


def _process_work(work: Work, payload):
    return _work(_SEGMENTER, work, payload)


def _feed(loaded, has_room, submit):
    """Both schedulers' read-ahead: hand items to ``submit(key, payload)`` while
    ``has_room()``; yields the ones that failed to load. Returns True once none are left."""
    while has_room():
        key, payload = next(loaded, (None, None))
        if key is None:
            return True
        if isinstance(payload, Failure):
            yield key, payload
        else:
            submit(key, payload)
    return False


def _loaded(items: Iterable[Item]):
    """(key, payload) for each item as it is asked for (both schedulers read ahead only as
    far as they have workers), or (key, Failure) for one that cannot be read."""
    for key, load in items:
        try:
            yield key, load()
        except OSError as exc:
            yield key, Failure(f"cannot read it ({exc.strerror or exc})")


def _run_processes(spec: ModelSpec, work: Work, items: Iterable[Item], jobs: int):
    import concurrent.futures as cf
    import multiprocessing

    if spec.threads is None:  # share the cores out: one onnxruntime thread pool per process
        spec = ModelSpec(**{**vars(spec), "threads": max(1, (os.cpu_count() or 1) // jobs)})
    # spawn: onnxruntime's thread pools do not survive fork
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(jobs, context, initializer=_process_init, initargs=(spec,)) as pool:
        pending: dict[cf.Future, str] = {}
        loaded = _loaded(items)
        exhausted = False

        def submit(key, payload):
            pending[pool.submit(_process_work, work, payload)] = key

        while pending or not exhausted:
            if not exhausted:
                exhausted = yield from _feed(loaded, lambda: len(pending) < 2 * jobs, submit)
            if not pending:
                break
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                key = pending.pop(future)
                try:
                    yield key, future.result()
                except Exception as exc:  # a worker process died (out of memory, ...)
                    yield key, Failure(f"worker failed: {type(exc).__name__}: {exc}")


# --- Ray ---------------------------------------------------------------------------------


def _ray_actor_class():
    import ray

    @ray.remote
    class SegmenterActor:
        """One model session per actor; the weights arrive through Ray's object store, so
        the nodes need no copy of the model files (only ``sceneseg[native]`` installed)."""

        def __init__(self, spec: ModelSpec, configs: dict[str, str], weights: bytes):
            directory = Path(tempfile.mkdtemp(prefix="sceneseg-"))
            for name, text in configs.items():
                (directory / name).write_text(text, encoding="utf-8")
            (directory / "weights.onnx").write_bytes(weights)
            spec = ModelSpec(**{**vars(spec), "model_dir": str(directory)})
            self.segmenter = spec.segmenter(str(directory / "weights.onnx"))

        def call(self, work: Work, payload):
            return _work(self.segmenter, work, payload)

    return SegmenterActor


def _run_ray(spec: ModelSpec, work: Work, items: Iterable[Item], jobs: int, address: str):
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        # "local": a Ray instance on this machine, started for this run; otherwise the
        # address of a running cluster ("auto" finds the one this node belongs to).
        if address == "local":
            # Local workers import sceneseg from where this process does.
            env = {"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}}
            runtime_env = env if os.environ.get("PYTHONPATH") else None
        else:
            # Ray ships this sceneseg package to the cluster's nodes; they need numpy,
            # Pillow and onnxruntime installed (pip install 'sceneseg[native]').
            runtime_env = {"py_modules": [str(Path(__file__).resolve().parents[1])]}
        ray.init(
            address=None if address == "local" else address,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env=runtime_env,
        )
    try:
        if jobs <= 0:
            jobs = max(1, int(ray.cluster_resources().get("CPU", 1)))
        threads = spec.threads or 1
        weights = ray.put((Path(spec.model_dir) / spec.weights).read_bytes())
        actor = _ray_actor_class().options(num_cpus=threads)
        actors = [actor.remote(spec, spec.configs(), weights) for _ in range(jobs)]
        idle = list(actors)
        pending: dict = {}
        loaded = _loaded(items)
        exhausted = False

        def submit(key, payload):
            a = idle.pop()
            pending[a.call.remote(work, payload)] = (key, a)

        while pending or not exhausted:
            if not exhausted:
                exhausted = yield from _feed(loaded, lambda: bool(idle), submit)
            if not pending:
                break
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            key, a = pending.pop(ref)
            idle.append(a)
            try:
                yield key, ray.get(ref)
            except Exception as exc:  # the actor died
                yield key, Failure(f"Ray worker failed: {type(exc).__name__}: {exc}")
    finally:
        if started_here:
            ray.shutdown()


def progress(total: int, label: str):
    """A progress bar on stderr (tqdm; shown on a terminal, silent in pipes and logs)."""
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a convenience: without tqdm, run without one

        class _NoBar:
            def update(self, n=1):
                pass

            def close(self):
                pass

        return _NoBar()
    return tqdm(total=total, desc=label, unit="photo", file=sys.stderr, disable=None)
