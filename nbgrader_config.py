# nbgrader configuration of the bpcourse assignments (nbgrader 0.9.6).
#
#   solutions/<ps>/<ps>.md        the instructor's notebooks, solutions and hidden tests, as
#                                 MyST markdown (jupytext's myst format): edit these
#   _grading/source/<ps>/         nbgrader's source: <ps>.ipynb built from the .md (`make
#                                 release` and `make grade` run driver.build_sources first)
#   assignments/<ps>/<ps>.ipynb   release: what students get (committed; `make release`)
#   _grading/                     git-ignored: source/, submitted/, autograded/, feedback/,
#                                 gradebook.db
#
# The course root is the folder holding this file, wherever nbgrader is started from, so a
# copy of the course (as the tests make) grades into its own _grading/ folder.
import os

c = get_config()  # noqa: F821 (defined by traitlets when it runs this file)

root = os.path.dirname(os.path.abspath(__file__))
grading = os.path.join(root, "_grading")
os.makedirs(grading, exist_ok=True)  # sqlite does not create the folder of its database

c.CourseDirectory.root = root
c.CourseDirectory.source_directory = os.path.join(grading, "source")
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.submitted_directory = os.path.join(grading, "submitted")
c.CourseDirectory.autograded_directory = os.path.join(grading, "autograded")
c.CourseDirectory.feedback_directory = os.path.join(grading, "feedback")
c.CourseDirectory.solution_directory = os.path.join(grading, "solution")
c.CourseDirectory.source_with_tests_directory = os.path.join(grading, "source_with_tests")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(grading, "gradebook.db")
c.CourseDirectory.course_id = "bpcourse"
# Only notebooks are course material; never copy caches or a student's scratch files.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "*.json", "*.png",
]

# Every cell's time limit (120 s) and the notebook's budget derived from it live in
# bpcourse/grading/contract.py; `make grade TIMEOUT=s` overrides the cell limit.
from bpcourse.grading.contract import CELL_SECONDS  # noqa: E402

c.ExecutePreprocessor.timeout = CELL_SECONDS

# Students' notebooks record no per-user kernel; grade with the default Python kernel.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Hardened autograding (bpcourse/grading/preprocessors/): each notebook runs in a sandbox as an
# unprivileged user, and the grader decides every test cell in its own process.
from bpcourse.grading.preprocessors import configure  # noqa: E402

configure(c)
