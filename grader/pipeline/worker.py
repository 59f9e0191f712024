"""A grading worker's set-up: the judge is loaded before any kernel runs, from files no kernel can
write, and no bytecode is read or written beside the sources.

``prepare_judge`` imports the checker, every lesson's checks, the references, the tokenizer and the
model the kernels will use (the sandbox shows kernels these files read-only). Python's bytecode
cache goes to a private folder in the grader's state folder (``worker_environment``), so a
``.pyc`` beside a source, planted or stale, is never read by the judge; the grader's fingerprint
hashes the sources the judge imports (``grader.pipeline.fingerprint``).
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import multiprocessing
import os
import sys

from grader.pipeline import signing
from grader.sandbox.environment import grading_env


def pycache_dir() -> str:
    path = signing.state_dir() / "pycache"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(path)


JUDGE_LESSONS = "JUDGE_LESSONS"   # the lessons the fork server's judge imports (judge_preload)
SERVER_LOG = "JUDGE_SERVER_LOG"   # where the fork server's own output goes: OUT/logs/fork-server.log
_fork_server_model: list[str] = []   # the model whose environment the fork server started in


@contextlib.contextmanager
def worker_environment(model: str = "course", lessons: tuple[str, ...] = (), log_dir: str = ""):
    """While worker processes (and the pool's fork server) are started: their bytecode cache is the
    private one and their environment the judge's (set in the environment, so that both hold from
    the interpreter's first import on)."""
    values = {"PYTHONPYCACHEPREFIX": pycache_dir(), "COURSE_MODEL": model, **grading_env(model),
              JUDGE_LESSONS: ",".join(lessons), SERVER_LOG: os.path.join(log_dir, "fork-server.log") if log_dir else ""}
    saved = {name: os.environ.get(name) for name in [*values, "PYTHONDONTWRITEBYTECODE"]}
    os.environ.update(values)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # written there only: the next batch starts faster
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pool_context(model: str):
    """How the local pool starts its workers: forked from multiprocessing's fork server, which
    imports the judge's libraries once for all of them (``grader.pipeline.judge_preload``); the
    server lives as long as this process. Call inside ``worker_environment``, which the server
    starts in. Where it already runs in another model's environment (an earlier batch of this
    process), a fresh interpreter per worker ("spawn"), as judge and kernels must load alike."""
    from multiprocessing import forkserver

    running = forkserver._forkserver._forkserver_pid is not None  # no public way to ask
    if running and _fork_server_model != [model]:
        return multiprocessing.get_context("spawn")
    if not running:
        _fork_server_model[:] = [model]
        forkserver.set_forkserver_preload(["grader.pipeline.judge_preload"])
    return multiprocessing.get_context("forkserver")


@functools.lru_cache(maxsize=None)
def prepare_judge(model: str, lessons: tuple[str, ...]) -> None:
    """Load everything the judge uses, once per process, before this worker runs any kernel."""
    if not sys.pycache_prefix:  # a worker that another executor started: no bytecode beside sources
        sys.dont_write_bytecode = True
        sys.pycache_prefix = pycache_dir()
    os.environ.update({"COURSE_MODEL": model, **grading_env(model)})
    os.environ.pop("COURSE_GRADING", None)
    tf_exercises = import_judge(lessons)
    from course_utils.checking.context import shared_context

    context = shared_context()
    context.tokenizer  # noqa: B018 - loaded now, from files kernels cannot write
    context.ref()
    context.model()
    if tf_exercises:
        # Now, not in a job: TensorFlow's ~550 MiB would count as its growth; and called once, so
        # that its graph is traced here (0.15 s) rather than in the first notebook's judging.
        context.model("tf")([[context.tokenizer.eos_token_id]])


def import_judge(lessons: tuple[str, ...]) -> bool:
    """Import the checker, ``lessons``' checks and their frameworks, running no operation (the
    local pool's fork server does this once for all its workers: ``pool_context``). Returns
    whether a lesson has a TensorFlow exercise, whose framework is then imported too."""
    with _transformers_without_tensorflow():
        import course_utils.checking  # noqa: F401
        import torch  # noqa: F401 - what loading the tokenizer and the model imports
        from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast  # noqa: F401

        for lesson in lessons:
            importlib.import_module(f"course_utils.lessons.{lesson}")
        import scipy.stats  # noqa: F401 - the sampling checks' goodness of fit: 0.5 s at its first use
    tf_exercises = any(getattr(value, "framework", None) == "tf" for lesson in lessons
                       for value in vars(sys.modules[f"course_utils.lessons.{lesson}"]).values())
    if tf_exercises and importlib.util.find_spec("tensorflow") is not None:
        import tensorflow  # noqa: F401 - through course_utils' import guard (triton first)
        return True
    return False


@contextlib.contextmanager
def _transformers_without_tensorflow():
    """While transformers is first imported: USE_TF=0. Otherwise it imports TensorFlow as a side
    effect (its image and video helpers), about 8 s of CPU and 550 MiB per worker (bench/README.md),
    which the judge needs only where a lesson has a TensorFlow exercise; ``prepare_judge`` then
    loads the course's own TensorFlow model, which imports it. Kernels never see this: their
    environment is their own (``contained.kernel_env``)."""
    if "USE_TF" in os.environ or "transformers" in sys.modules:
        yield
        return
    os.environ["USE_TF"] = "0"
    try:
        yield
    finally:
        os.environ.pop("USE_TF", None)


def init_worker(model: str, log_dir: str, lessons: tuple[str, ...], options=None, template: dict | None = None):
    """The local pool's initializer: logs to ``OUT/logs/worker-<pid>.log``, one thread, the judge;
    kernels forked from the machine's ``template`` (``KernelTemplate.attachment``), or from one
    this worker starts, loading while the judge loads.

    The frameworks' native logging (TensorFlow ignores TF_CPP_MIN_LOG_LEVEL for some of it) goes
    to the log rather than over the progress bar.
    """
    if sys.pycache_prefix:  # private (worker_environment): caching there makes the next batch start faster
        sys.dont_write_bytecode = False
    os.makedirs(log_dir, exist_ok=True)
    log = os.open(os.path.join(log_dir, f"worker-{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update({"COURSE_MODEL": model, **grading_env(model)})
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    if template is not None:
        from grader.sandbox import forked_kernel

        forked_kernel.share(template)
    elif options is not None:  # the kernel template loads in its own process meanwhile
        from grader.sandbox import contained as sandbox

        sandbox.start_template(options)  # a GradingOptions
    try:
        prepare_judge(model, tuple(lessons))
    except Exception:  # noqa: BLE001 - each job tries again and reports the error in its row
        import traceback

        traceback.print_exc()
