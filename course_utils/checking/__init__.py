"""The checker: exercise kinds, declared mistakes, strict answer conversion, verdicts, registry.

| module | its one job |
|---|---|
| ``problem`` | the exercise protocol (collect / judge) and the student's API (check, hint, solution, grade) |
| ``value``, ``function``, ``multipart`` | the kinds of exercise |
| ``mistakes`` | declared judging: expected, ``@mistake`` methods, fallback; the one judging loop |
| ``compare``, ``convert`` | the one equality test; reading an answer as plain data |
| ``records`` | the grading protocol: payloads, the answer record, scaling |
| ``student_code``, ``notebook``, ``display`` | the student's errors; the notebook's namespace; output |
| ``binding``, ``registry``, ``solutions`` | names in a lesson module; ids to exercises; solutions from the sources |
| ``context``, ``reference_cache`` | tokenizer, models and references; forward passes once per process |
"""
from course_utils.checking.binding import bind_exercises
from course_utils.checking.function import FunctionProblem
from course_utils.checking.mistakes import mistake
from course_utils.checking.multipart import MultipartProblem
from course_utils.checking.problem import Problem
from course_utils.checking.records import ANSWER_MIME, Blank, ____
from course_utils.checking.registry import get_problem, judge_answer
from course_utils.checking.student_code import call_student
from course_utils.checking.value import PredictionProblem, ValueProblem
from course_utils.checking.verdict import CORRECT, INCORRECT, NOT_ATTEMPTED, Verdict

__all__ = ["ANSWER_MIME", "Blank", "CORRECT", "FunctionProblem", "INCORRECT", "MultipartProblem",
           "NOT_ATTEMPTED", "PredictionProblem", "Problem", "ValueProblem", "Verdict",
           "bind_exercises", "call_student", "get_problem", "judge_answer", "mistake", "____"]
