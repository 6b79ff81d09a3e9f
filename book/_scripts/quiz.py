"""Self-check quizzes at the end of each chapter, with jupyterquiz.

The questions are embedded in the page (``display_quiz`` gets the list itself, never a URL), so
a quiz answers in the static HTML with no server and no network, and in a running notebook.
Each answer carries its own explanation, shown when the reader picks it. A chapter's last
cell (tagged ``remove-input``) reads:

    sys.path.insert(0, str(Path("_scripts").resolve()))
    from quiz import choice, number, quiz
    quiz(
        choice("Which activation saturates for large |z|?",
               ("sigmoid", True, "sigma'(z) -> 0 on both sides ..."),
               ("ReLU", False, "ReLU's slope is 1 for every z > 0 ...")),
        number("What is sigma'(0)?", 0.25, "sigma(0) = 1/2, so sigma' = 1/2 * 1/2.",
               wrong=[(0.5, "That is sigma(0), not its slope.")]),
    )

A number the build computes goes in as a value (``number(..., float(x), ...)``), never typed.
"""

import math

from jupyterquiz import display_quiz

__all__ = ["choice", "number", "quiz"]


def choice(question, *answers):
    """A multiple-choice question: each answer is ``(text, correct, why)``.

    One correct answer makes a single-choice question; several make a "select all that
    apply" one. Every answer must say why it is right or wrong.
    """
    if len(answers) < 2:
        raise ValueError(f"{question!r}: a choice needs at least two answers")
    rows = []
    for a in answers:
        if len(a) != 3 or not isinstance(a[1], bool) or not str(a[2]).strip():
            raise ValueError(f"{question!r}: each answer is (text, True/False, why), got {a!r}")
        rows.append({"answer": str(a[0]), "correct": a[1], "feedback": str(a[2])})
    n_right = sum(r["correct"] for r in rows)
    if n_right == 0:
        raise ValueError(f"{question!r}: no answer is marked correct")
    return {"question": question, "type": "multiple_choice" if n_right == 1 else "many_choice",
            "answers": rows}


def number(question, answer, why, *, digits=3, wrong=(), otherwise=None):
    """A numeric question: the reader types a number, compared to ``digits`` significant digits.

    ``wrong`` lists likely mistakes, each ``(value, why)`` or ``((low, high), why)``, so a
    reader who makes one is told which. ``otherwise`` is the feedback for any other number.
    """
    answer = float(answer)
    if not math.isfinite(answer):
        raise ValueError(f"{question!r}: the answer {answer!r} is not a finite number")
    rows = [{"type": "value", "value": answer, "correct": True, "feedback": why}]
    for value, because in wrong:
        if isinstance(value, tuple):
            rows.append({"type": "range", "range": [float(value[0]), float(value[1])],
                         "correct": False, "feedback": because})
        else:
            if float(f"{float(value):.{digits}g}") == float(f"{answer:.{digits}g}"):
                raise ValueError(f"{question!r}: the wrong answer {value!r} equals the right one "
                                 f"to {digits} digits")
            rows.append({"type": "value", "value": float(value), "correct": False,
                         "feedback": because})
    rows.append({"type": "default",
                 "feedback": otherwise or "Not quite: work it through once more."})
    return {"question": question, "type": "numeric", "precision": digits, "answers": rows}


def quiz(*questions):
    """Show the questions as one quiz (2 to 5 per chapter), answers in a random order."""
    if not 2 <= len(questions) <= 5:
        raise ValueError(f"a chapter's quiz has 2 to 5 questions, got {len(questions)}")
    display_quiz(list(questions), shuffle_answers=True, max_width=720)
