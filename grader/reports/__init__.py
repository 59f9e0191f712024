"""What the grader writes for people: feedback pages, the class report, the gradebook exports.

``feedback_html`` (with ``hidden_outputs``), ``report`` and ``report_html``, ``export`` (CSV) and
``export_nbgrader`` (nbgrader's gradebook), both reading ``grades.csv`` through ``grades_csv``;
``sanitize`` makes student text safe for a terminal and a spreadsheet.
"""
