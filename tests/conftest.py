"""Session-wide fixtures: each model is loaded once per test session (always the bundled one)."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before anything imports tensorflow

# Before any test imports tensorflow: course_utils makes it load after triton (a CUDA torch's
# compiler), the one order that does not abort the process (see course_utils.frameworks).
import course_utils  # noqa: E402,F401


@pytest.fixture(scope="session")
def tokenizer():
    from course_utils import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def pt_model():
    torch = pytest.importorskip("torch")
    from course_utils import load_model

    # The model is tiny: one thread is as fast, and much faster when the cores are busy.
    torch.set_num_threads(1)
    return load_model("pt", name="course")


@pytest.fixture(scope="session")
def tf_model():
    pytest.importorskip("tensorflow")
    from course_utils import load_model

    return load_model("tf", name="course")


@pytest.fixture(params=["pt", "tf"])
def fw(request):
    """Each framework in turn: ``fw.name`` ("pt"/"tf"), ``fw.ref`` (its reference module), ``fw.model``."""
    from types import SimpleNamespace

    model = request.getfixturevalue(f"{request.param}_model")  # skips when the framework is missing
    from course_utils.reference import for_framework

    return SimpleNamespace(name=request.param, ref=for_framework(request.param), model=model)


# -- graded batches that several modules read (tests/shared_batches.py): each grades once ----------
@pytest.fixture(scope="session", params=["fork", "fresh", "dask-fork"])
def one_worker_batch(request, tmp_path_factory):
    """The integrity and isolation students graded by one worker on each engine in turn:
    ``{"engine", "report", "out"}``."""
    from grader.sandbox import bwrap

    if bwrap.executable() is None:
        pytest.skip("bubblewrap is not installed")
    if request.param.startswith("dask"):
        pytest.importorskip("distributed")
    import shared_batches

    root = tmp_path_factory.mktemp(f"one-worker-{request.param}")
    report = shared_batches.grade_one_worker_batch(root, request.param)
    return {"engine": request.param, "report": report, "out": root / "out"}


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory):
    """The folder holding a synthetic class (``submissions/``, its plan ``expected.json``) and its
    grading by the local pool (``out/``, the class report included)."""
    import shared_batches

    root = tmp_path_factory.mktemp("class")
    shared_batches.grade_class(root)
    return root
