"""Answers to the course's function exercises written from the student notebooks alone.

One module per lesson. Each module maps an exercise (``"q2"``) to the name the notebook gives its
answer (``EXERCISES``), and holds ``RIGHT`` and ``WRONG``: for each exercise, answering functions
whose docstring says what they do. ``EXTRA`` names what an answer reads from the notebook's
namespace besides itself (lesson 6's search calls the student's own ``beam_step``).
"""
