"""The course's autograder: release student notebooks, grade submissions in contained kernels.

``python -m grader release | autograde SUBMISSIONS --out OUT | demo`` (see ``grader.cli``).
"""
