"""Imported once by the local pool's fork server (``grader.pipeline.worker.pool_context``), so that
every worker forked from it starts with the judge's libraries imported: the checker, every lesson
of the release, PyTorch and transformers, and TensorFlow where a lesson has a TensorFlow exercise.
Paid once per machine instead of once per worker (on two cores, 3.5 s of a lesson-5 batch's start-up).

Nothing here runs an operation: the frameworks' thread pools would not survive the fork (the kernel
template does the same, ``grader.sandbox.template_server.preload``). Where TensorFlow is imported, the
course's TensorFlow model's weights are read too (numpy only), so each worker's model wraps them. The server starts in the
environment ``worker.worker_environment`` sets, which names the lessons (``JUDGE_LESSONS``) and the
log its output goes to (TensorFlow writes some start-up lines to stderr whatever the log level).
"""
import os

try:
    from grader.pipeline import worker

    if os.environ.get(worker.SERVER_LOG):
        os.makedirs(os.path.dirname(os.environ[worker.SERVER_LOG]), exist_ok=True)
        log = os.open(os.environ[worker.SERVER_LOG], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)

    if worker.import_judge(tuple(filter(None, os.environ.get(worker.JUDGE_LESSONS, "").split(",")))):
        from course_utils.loading import read_tf_weights_ahead

        read_tf_weights_ahead()  # arrays only: each worker's TensorFlow model wraps them, uncopied
except Exception:  # noqa: BLE001 - best effort: each worker's prepare_judge imports what is missing, reports errors
    pass
