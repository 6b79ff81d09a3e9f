"""Self-check quizzes at the end of each chapter, with jupyterquiz.

The questions are embedded in the page (jupyterquiz gets the list itself, never a URL), so
a quiz answers in the static HTML with no server and no network, and in a running notebook.
Each answer carries its own explanation, shown when the reader picks it. A chapter's
``## Check yourself`` section holds one cell (tagged ``remove-input``) that reads:

    sys.path.insert(0, str(Path("_scripts").resolve()))
    from quiz import choice, number, quiz
    quiz(
        choice("Which activation saturates for large $|z|$?",
               ("sigmoid", True, "$\\sigma'(z) \\to 0$ on both sides ..."),
               ("ReLU", False, "ReLU's slope is 1 for every $z > 0$ ...")),
        number("What is $\\sigma'(0)$?", 0.25, "$\\sigma(0) = 1/2$, so ...",
               wrong=[(0.5, "That is $\\sigma(0)$, not its slope.")],
               otherwise="Use $\\sigma' = \\sigma (1 - \\sigma)$ at $z = 0$."),
    )

Texts are plain text with math between ``$...$`` (typeset by the page's own MathJax), code
between backticks and ``*emphasis*``; ``<``, ``>`` and ``&`` are shown as typed, never read as
HTML.

A number the build computes goes in as a value (``number(..., float(x), ...)``), never typed;
in a text, format it (``f"{x:.3f}"``), or ``sci(x)`` for math such as ``4.5 \\times 10^{-5}``.
The reader's number is compared with the answer to ``digits`` significant digits; the
question says how many to give. An integer answer is compared exactly by default.

``quiz`` writes the same output as jupyterquiz's ``display_quiz`` (a ``<div>`` with its
styles, then a JavaScript output that draws the questions into it), with the ``<div>``
closed, so that the page around it keeps its structure; in the HTML page each question is a
``div.Quiz`` inside the ``div.bp-quiz`` container, and the questions are also the global
JavaScript variable ``questions<container id>`` (the browser test reads them there).
"""

import hashlib
import html
import json
import math
import re

from IPython.display import HTML, Javascript, display
from jupyterquiz.dynamic.loader import load_questions_script
from jupyterquiz.dynamic.renderer import build_script, build_styles, render_div

__all__ = ["choice", "number", "quiz", "sci"]

# jupyterquiz's own palette (its display_quiz builds it inline, so it is copied here).
_COLORS = {
    "--jq-multiple-choice-bg": "#392061", "--jq-mc-button-bg": "#fafafa",
    "--jq-mc-button-border": "#e0e0e0e0", "--jq-mc-button-inset-shadow": "#555555",
    "--jq-many-choice-bg": "#f75c03ff", "--jq-numeric-bg": "#392061ff",
    "--jq-numeric-input-bg": "#c0c0c0", "--jq-numeric-input-label": "#101010",
    "--jq-numeric-input-shadow": "#999999", "--jq-string-bg": "#4c1a57",
    "--jq-incorrect-color": "#c80202", "--jq-correct-color": "#009113",
    "--jq-text-color": "#fafafa", "--jq-link-color": "#9abafa",
}
_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def sci(x, digits=2):
    """``x`` in scientific notation for math: ``sci(4.54e-05)`` is ``4.5 \\times 10^{-5}``."""
    mantissa, exponent = f"{float(x):.{digits - 1}e}".split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


def _text(s, what):
    """Plain text with $math$, `code` and *emphasis* as the HTML that jupyterquiz shows."""
    s = str(s).strip()
    if not s:
        raise ValueError(f"{what} is empty")
    if s.count("$") % 2:
        raise ValueError(f"{what} has an unpaired $: {s!r}")
    parts = re.split(r"(\$[^$]*\$)", html.escape(s, quote=False))
    for k in range(0, len(parts), 2):  # the text between the math: `code` and *emphasis*
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", parts[k])
        parts[k] = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"<em>\1</em>", text)
    return "".join(parts)


def choice(question, *answers):
    """A multiple-choice question: each answer is ``(text, correct, why)``.

    One correct answer makes a single-choice question; several make a "select all that
    apply" one (the question should say so). Every answer must say why it is right or wrong.
    """
    if len(answers) < 2:
        raise ValueError(f"{question!r}: a choice needs at least two answers")
    rows = []
    for a in answers:
        if len(a) != 3 or not isinstance(a[1], bool) or not str(a[2]).strip():
            raise ValueError(f"{question!r}: each answer is (text, True/False, why), got {a!r}")
        rows.append({"answer": _text(a[0], "an answer"), "correct": a[1],
                     "feedback": _text(a[2], f"the explanation of {a[0]!r}")})
    n_right = sum(r["correct"] for r in rows)
    if n_right == 0:
        raise ValueError(f"{question!r}: no answer is marked correct")
    if len({r["answer"] for r in rows}) < len(rows):
        raise ValueError(f"{question!r}: two answers have the same text")
    return {"question": _text(question, "a question"),
            "type": "multiple_choice" if n_right == 1 else "many_choice", "answers": rows}


def _rounded(x, digits):
    return float(f"{float(x):.{digits}g}")


def number(question, answer, why, *, digits=None, wrong=(), otherwise=None):
    """A numeric question: the reader types a number, compared to ``digits`` significant digits.

    ``digits`` defaults to 3, or to an integer answer's own digits (compared exactly); the
    question is told how many digits to give. ``wrong`` lists likely mistakes, each
    ``(value, why)`` or ``((low, high), why)`` (low included, high excluded), so a reader who
    makes one is told which. ``otherwise`` is the feedback for any other number.
    """
    answer = float(answer)
    if not math.isfinite(answer):
        raise ValueError(f"{question!r}: the answer {answer!r} is not a finite number")
    integer = answer == int(answer) and abs(answer) < 1e15
    if digits is None:
        digits = len(str(abs(int(answer)))) if integer else 3
    if not integer or _rounded(answer, digits) != answer:
        n = _WORDS.get(digits, str(digits))
        question = f"{question} (Give {n} significant digit{'s' if digits > 1 else ''}.)"
    rows = [{"type": "value", "value": answer, "correct": True,
             "feedback": _text(why, "the explanation of the answer")}]
    for value, because in wrong:
        because = _text(because, f"the explanation of the wrong answer {value!r}")
        if isinstance(value, tuple):
            low, high = float(value[0]), float(value[1])
            if low <= _rounded(answer, digits) < high:
                raise ValueError(f"{question!r}: the wrong range {value!r} holds the answer")
            rows.append({"type": "range", "range": [low, high], "correct": False,
                         "feedback": because})
        else:
            if _rounded(value, digits) == _rounded(answer, digits):
                raise ValueError(f"{question!r}: the wrong answer {value!r} equals the right one "
                                 f"to {digits} digits")
            rows.append({"type": "value", "value": float(value), "correct": False,
                         "feedback": because})
    rows.append({"type": "default", "feedback": _text(
        otherwise or "Not quite: work it through once more.", "the default feedback")})
    return {"question": _text(question, "a question"), "type": "numeric",
            "precision": digits, "answers": rows}


def quiz(*questions):
    """Show the questions as one quiz (2 to 5 per chapter), answers in a random order."""
    if not 2 <= len(questions) <= 5:
        raise ValueError(f"a chapter's quiz has 2 to 5 questions, got {len(questions)}")
    # The container's id comes from the questions, so a rebuild writes the same page.
    digest = hashlib.sha256(json.dumps(questions, sort_keys=True).encode()).hexdigest()
    div_id = "bpq" + digest[:12].translate(str.maketrans("0123456789", "ghijklmnop"))
    script, static, url = load_questions_script(list(questions), div_id)
    div = render_div(div_id, False, True, False, 1_000_000, 720, 10, "left")
    div = div.replace("<div ", '<div class="bp-quiz mathjax_process" ', 1) + "</div>"
    display(HTML(div + build_styles(div_id, _COLORS)))
    display(Javascript(build_script(script, static, url, div_id, True)))
