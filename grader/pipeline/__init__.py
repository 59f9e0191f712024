"""The grading pipeline: from a folder of submissions to signed results and ``grades.csv``.

``autograde`` (the coordinator) finds ``submissions`` (``student_ids`` checked), hashes them, and
hands each ``job.Job`` to an executor (the local pool, or Dask through ``cluster``); a ``worker``
runs ``grade_one``: ``assemble``, the sandbox, and the judge, bounded by ``job_limits`` and
``record_limits``. ``results`` holds the statuses and rows, ``signing`` and ``fingerprint`` decide
which saved results are reused; ``files`` writes atomically and reads without following links.
"""
