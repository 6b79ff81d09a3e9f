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

# -- Limits: every time limit and cap of grading, in this one place -------------------------
# A cell's time: the ps4 training cell needs a few seconds on a laptop, so 120 s leaves a
# wide margin and an infinite loop is still cut off (`make grade TIMEOUT=s` overrides it).
c.ExecutePreprocessor.timeout = 120
# The whole notebook (cells after it are not run); 0: three cells' time, at least 300 s.
# `make grade` stops a worker whose submission runs 180 s past it.
c.SandboxedExecute.notebook_seconds = 0
# The student's kernel (bpcourse/grading/sandbox.py): memory of all its processes together
# and of each one's address space (MB), CPU time (s), processes and threads, largest file
# (MB), its /tmp scratch (MB).
c.SandboxedExecute.memory_mb = 2048
c.SandboxedExecute.cpu_seconds = 900
c.SandboxedExecute.nproc = 64
c.SandboxedExecute.fsize_mb = 64
c.SandboxedExecute.scratch_mb = 256
# Output kept per cell (characters: text, HTML, images), and the largest message the
# kernel may send the grader on the grading channel (MB; an MNIST subset is 31 MB).
c.SandboxedExecute.max_output = 100_000
c.SandboxedExecute.max_message_mb = 96

# Students' notebooks record no per-user kernel; grade with the default Python kernel.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Hardened autograding (bpcourse/grading/preprocessors/): each notebook runs in a sandbox as an
# unprivileged user, and the grader decides every test cell in its own process.
from bpcourse.grading.preprocessors import configure  # noqa: E402

configure(c)

# The hidden checks draw their inputs from the course's secret key, made on first use
# (mode 0600) in the git-ignored grading folder. `make grade` reads it and hands it to its
# workers; a plain `nbgrader autograde` reads it here. Keep it: the same key, the same
# inputs, the same scores.
from bpcourse.grading.channel import KEY_FILE  # noqa: E402

c.SandboxedExecute.key_file = os.path.join(grading, KEY_FILE)

# -- Added for issue 11: hand-in from an LMS, feedback that renders offline -----------------
# `make collect ZIP=download.zip` (bpcourse/grading/collect.py) runs nbgrader's zip_collect:
# the zip is unpacked under _grading/downloaded/<ps>/, each file's name gives the student and
# the notebook, and the notebooks go to _grading/submitted/<student>/<ps>/. The regular
# expression reads both namings of a downloaded file (its path inside the zip):
#   Canvas  doejane_12345_6789012_ps1.ipynb, doejane_LATE_12345_6789012_ps1-1.ipynb
#           (sortable name, user id, submission id, the file's name; "-1" when handed in again)
#   Moodle  Jane Doe_4242_assignsubmission_file_ps1.ipynb, or with "download in folders"
#           Jane Doe_4242_assignsubmission_file_/ps1.ipynb
# The name becomes the student id ("doejane", "jane-doe"), lms_id is the LMS's user number.
c.FileNameCollectorPlugin.named_regexp = (
    r"^(?:.*/)?(?P<student_id>[^/_]+)_(?:LATE_)?(?P<lms_id>\d+)_"
    r"(?:\d+_|assignsubmission_file_/?)(?P<file_id>[^/]+?)(?:-\d+)?\.[^./]+$")
c.ZipCollectApp.downloaded_directory = "_grading/downloaded"  # relative to the course root
c.ZipCollectApp.strict = True  # a misnamed notebook is reported, not collected
# nbgrader's plugins, plus: each zip entry's time is the submission's timestamp (the later
# of two copies wins), and an id from the name.
c.ZipCollectApp.extractor_plugin = "bpcourse.grading.collect.LMSExtractor"
c.ZipCollectApp.collector_plugin = "bpcourse.grading.collect.LMSCollector"

# Feedback renders its math with no network. nbgrader's feedback template calls nbconvert's
# mathjax() macro without the HTMLExporter.mathjax_url setting, so the page loads MathJax 2
# from a CDN whatever that says; bpcourse/grading/templates/feedback/mathjax.html.j2 replaces
# the macro and inlines MathJax 3 (SVG output: one file, no fonts to fetch), which `make
# vendor-feedback` (run by `make grade`) fetches from npm into _build/vendor/. Without that
# file, feedback keeps nbgrader's CDN MathJax.
import nbgrader as _nbgrader  # noqa: E402

import bpcourse.grading as _grading  # noqa: E402

_package = os.path.dirname(os.path.abspath(_grading.__file__))
_vendor = os.path.join(os.path.dirname(os.path.dirname(_package)), "_build", "vendor")
if os.path.isfile(os.path.join(_vendor, "feedback", "mathjax-tex-svg.html")):
    c.HTMLExporter.extra_template_basedirs = [
        os.path.join(_package, "templates"), _vendor,
        # nbgrader's own (its feedback template), which it adds only when this is unset
        os.path.join(os.path.dirname(_nbgrader.__file__), "server_extensions", "formgrader",
                     "templates")]
