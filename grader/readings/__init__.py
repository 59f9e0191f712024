"""The grader's readings of a graded run: what the kernel reported from what ran (``evidence``)."""
