"""Whether this copy of the checker holds the answer key.

The course's own package does: ``check()`` judges in the student's kernel. The copy that a
grading kernel imports (built by ``grader/sandbox/kernel_package.py``, bound over ``course_utils`` inside
the sandbox) does not: its exercises have no hidden tests and no ``expected``/``@mistake``/judging
methods, and this flag is ``False``. There a test cell only records the answer (the grader judges
it in its own process) and ``check()`` says that the grader judges.
"""
AVAILABLE = True

ABSENT = ("The answer key is not in the grading kernel: the grader judges this exercise in its own "
          "process, from the test cell's answer record.")


class AnswerKeyAbsent(RuntimeError):
    """Raised by what the grading kernel's copy of an exercise no longer holds (its answer key)."""
