"""The environment variables every grading process runs with: offline, quiet, one thread.

Each grading worker sets ``GRADING_ENV`` (``grader.pipeline.worker``); each kernel's environment
(``grader.sandbox.contained.kernel_env``) takes ``SINGLE_THREAD`` from here, with the same offline and quiet
values, so the judge and the student's code load the model the same way and neither reaches the
network, floods the logs or starts a thread per core.
"""
from __future__ import annotations

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}   # the bundled model or the local cache only
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}       # TensorFlow's C++ logs: errors; no GUI
SINGLE_THREAD = {
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
}
GRADING_ENV = {**OFFLINE, **QUIET, **SINGLE_THREAD}
