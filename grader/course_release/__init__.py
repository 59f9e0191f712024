"""The course as released: student notebooks from the nbgrader sources (``release``, ``publish``),
the graded class's wheel (``student_package``), and the sample classes (``samples``,
``samples_class``; ``python -m grader.samples``).
"""
