"""The checker: problem kinds, strict answer conversion, verdicts, and the problem registry."""
from course_utils.checking.problem import (ANSWER_MIME, Blank, FunctionProblem, MultipartProblem,
                                           PredictionProblem, Problem, ValueProblem, bind_exercises,
                                           call_student, ____)
from course_utils.checking.registry import get_problem, judge_answer
from course_utils.checking.verdict import CORRECT, INCORRECT, NOT_ATTEMPTED, Verdict

__all__ = ["ANSWER_MIME", "Blank", "CORRECT", "FunctionProblem", "INCORRECT", "MultipartProblem",
           "NOT_ATTEMPTED", "PredictionProblem", "Problem", "ValueProblem", "Verdict",
           "bind_exercises", "call_student", "get_problem", "judge_answer", "____"]
