"""The environment variables every grading process runs with: offline, quiet, one thread.

Each grading worker sets ``grading_env(model)`` (``grader.pipeline.worker``), and each kernel's
environment (``grader.sandbox.contained.kernel_env``) takes the same values, so the judge and the
student's code load the model the same way and neither reaches the network, floods the logs or
starts a thread per core.
"""
from __future__ import annotations

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}   # the bundled model or the local cache only
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}       # TensorFlow's C++ logs: errors; no GUI
SINGLE_THREAD = {
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
}
GRADING_ENV = {**OFFLINE, **QUIET, **SINGLE_THREAD}
# The bundled course model (128 wide, 4 layers): oneDNN's kernels cost more to set up than they
# save. TensorFlow builds them again for every new sequence length and after every
# ``tf.random.set_seed`` (which clears its kernel cache): a lesson-5 notebook's cells take 3.4 s
# without oneDNN, 4.3 s with it. On gpt2's size, one thread, oneDNN halves a batch of 4 x 32
# tokens, so it stays on there. Read when TensorFlow is imported.
SMALL_MODEL = {"TF_ENABLE_ONEDNN_OPTS": "0"}


def grading_env(model: str) -> dict:
    """The variables a grading process (judge, kernel template, kernel) sets for ``model``."""
    return {**GRADING_ENV, **(SMALL_MODEL if model == "course" else {})}
