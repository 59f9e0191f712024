"""One module per lesson, each declaring its exercises; a notebook imports its lesson's module:

    from course_utils.lessons.lesson3 import *   # gives q1, q2, ... and the ____ placeholder
"""
