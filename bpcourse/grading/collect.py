"""Hand-in from an LMS: import a zip of submissions with nbgrader's ``zip_collect``.

``python -m bpcourse.grading collect ZIP`` (``make collect ZIP=path``) copies the zip into
``_grading/downloaded/<ps>/archive/`` and runs nbgrader's own ``ZipCollectApp`` on it: its
extractor unpacks the zip into ``_grading/downloaded/<ps>/extracted/`` (kept, to look at),
its file-name collector reads the student and the notebook from each file's name with the
regular expression in ``nbgrader_config.py`` (``FileNameCollectorPlugin.named_regexp``, for
Canvas's and Moodle's naming), and it copies each notebook to
``_grading/submitted/<student>/<ps>/<ps>.ipynb`` with a ``timestamp.txt``. Of two copies of
one student's notebook, the later timestamp wins, as nbgrader's ``collect`` does.

Two plugins, configured in ``nbgrader_config.py``, extend nbgrader's:

* ``LMSExtractor`` keeps each zip entry's time on the extracted file (nbgrader's unzip
  drops it). LMS file names carry no time, so that stored time is the submission's
  timestamp (a zip stores no time zone: it is read as UTC).
* ``LMSCollector`` makes a student id of the name in the file name (``Jane Doe`` ->
  ``jane-doe``), takes the timestamp from the file when the name has none, and refuses a
  second LMS user whose name gives the same id.

Every file of the zip that lands nowhere is reported with the reason: not a notebook, a
name in neither LMS's form, a misnamed notebook (``ps1-final.ipynb``; nbgrader's ``strict``
mode), an older copy of a later submission, a student already collected (``--force``
replaces).
"""

import calendar
import contextlib
import io
import logging
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nbgrader.apps.zipcollectapp import ZipCollectApp
from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin

from .driver import GRADING

# Examples of the two namings the regular expression in nbgrader_config.py reads.
CANVAS_EXAMPLE = "doejane_12345_6789012_ps1.ipynb"
MOODLE_EXAMPLE = "Jane Doe_4242_assignsubmission_file_ps1.ipynb"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"  # what nbgrader's parse_utc reads


def student_id(name):
    """The gradebook's id for the name in an LMS file name: 'Jane Doe' -> 'jane-doe'."""
    return re.sub(r"\W+", "-", name.strip().lower()).strip("-_")


class LMSExtractor(ExtractorPlugin):
    """nbgrader's extractor, which also keeps each zip entry's time on its file."""

    def extract(self, archive_path, extracted_path):
        super().extract(archive_path, extracted_path)
        for root, _, files in os.walk(archive_path):
            for name in files:
                zpath = Path(root) / name
                if zpath.suffix != ".zip" or not zipfile.is_zipfile(zpath):
                    continue
                # nbgrader's extractor puts each archive in a folder named after it
                dest = Path(extracted_path) / Path(root).relative_to(archive_path) / zpath.stem
                with zipfile.ZipFile(zpath) as z:
                    for info in z.infolist():
                        target = dest.joinpath(*info.filename.split("/"))
                        if not info.is_dir() and target.is_file():
                            t = calendar.timegm((*info.date_time, 0, 0, -1))
                            os.utime(target, (t, t))


class LMSCollector(FileNameCollectorPlugin):
    """nbgrader's file-name collector, with a student id from the name and a timestamp.

    Remembers what it made of each file (``outcome``) for the report of ``collect``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.outcome = {}  # path -> the groups, or why the file was refused
        self._users = {}  # student id -> (LMS user number, file)

    def collect(self, submitted_file):
        info = super().collect(submitted_file)
        ext = os.path.splitext(submitted_file)[1]
        if ext not in self.valid_ext:
            self.outcome[submitted_file] = f"not a notebook ({ext or 'no extension'})"
            return None
        if not info:
            self.outcome[submitted_file] = (
                "its name is in neither Canvas's form (" + CANVAS_EXAMPLE + ") nor "
                "Moodle's (" + MOODLE_EXAMPLE + "): FileNameCollectorPlugin.named_regexp "
                "in nbgrader_config.py")
            return None
        sid = student_id(info["student_id"])
        if not sid:
            self.outcome[submitted_file] = f"no student id in the name {info['student_id']!r}"
            return None
        lms_id = info.get("lms_id")
        first = self._users.setdefault(sid, (lms_id, submitted_file))
        if lms_id and first[0] and first[0] != lms_id:
            self.outcome[submitted_file] = (
                f"two LMS users give the student id {sid!r} (user {first[0]} and user "
                f"{lms_id}): collect this file by hand under another id")
            return None
        info["student_id"] = sid
        if not info.get("timestamp"):
            mtime = os.path.getmtime(submitted_file)
            info["timestamp"] = datetime.fromtimestamp(mtime, UTC).strftime(TIME_FORMAT)
        self.outcome[submitted_file] = dict(info)
        return info


@dataclass
class Report:
    """What ``collect`` did with each file of the zip."""

    assignment: str
    placed: list = field(default_factory=list)  # (student, notebook, timestamp, file in zip)
    skipped: list = field(default_factory=list)  # (file in zip, why)
    error: str = ""  # nbgrader's zip_collect failed
    log: Path | None = None  # nbgrader's log of the run

    def lines(self):
        out = [f"collected {len(self.placed)} submission(s) of {self.assignment} into "
               f"{GRADING}/submitted/"]
        width = max([len(p[0]) for p in self.placed] + [7])
        out += [f"  {s.ljust(width)}  {nb}  {ts}  (from {src})" for s, nb, ts, src in self.placed]
        if self.skipped:
            out.append(f"not placed: {len(self.skipped)} file(s)")
            out += [f"  {src}: {why}" for src, why in self.skipped]
        if self.error:
            out.append(f"nbgrader zip_collect failed: {self.error}")
        if self.log:
            out.append(f"zip_collect's log and the unpacked zip: {self.log.parent}/")
        if self.placed:
            out.append("next: make grade")
        return out


class ReportingZipCollectApp(ZipCollectApp):
    """nbgrader's ZipCollectApp, noting what became of each file for the report."""

    def _collect_files(self, src_files):
        data = super()._collect_files(src_files)
        self.report_data = data
        released = sorted(p.name for p in (Path(self.coursedir.root) / self.coursedir.
                                           release_directory / self.coursedir.assignment_id)
                          .glob("*.ipynb"))
        placed = {src: sid for sid, d in data.items() for src in d["src_files"]}
        seen = self.collector_plugin_inst.outcome
        self.unplaced = []
        for src in src_files:
            if src in placed:
                continue
            got = seen.get(src, "the collector plugin returned nothing")
            if isinstance(got, str):
                self.unplaced.append((src, got))
                continue
            name = os.path.splitext(got["file_id"])[0] + os.path.splitext(src)[1]
            if name not in released:
                self.unplaced.append((src, f"misnamed: {name} is not a notebook of "
                                      f"{self.coursedir.assignment_id} (expected "
                                      f"{', '.join(released) or 'a released notebook'}): "
                                      "rename it in the zip and collect again"))
                continue
            d = data.get(got["student_id"])
            later = d["src_files"][d["file_ids"].index(name)] if d and name in d["file_ids"] \
                else None
            if later is None:
                self.unplaced.append((src, "not placed by zip_collect (see its log)"))
                continue
            self.unplaced.append((src, f"an older copy: {got['student_id']} handed in "
                                  f"{self.inside(later)} later ({_time(d['timestamp'])})"))
        return data

    def inside(self, src):
        """A file's path inside the zip it came from."""
        rel = os.path.relpath(src, self._format_collect_path(self.extracted_directory))
        return rel.split(os.sep, 1)[-1]

    def _transfer_files(self, collected_data):
        if not self.force:
            for sid in list(collected_data):
                dest = Path(self.coursedir.format_path(
                    self.coursedir.submitted_directory, sid, self.coursedir.assignment_id))
                if dest.is_dir() and any(dest.iterdir()):
                    for src in collected_data.pop(sid)["src_files"]:
                        self.unplaced.append((src, f"already collected: {GRADING}/submitted/"
                                              f"{sid}/{self.coursedir.assignment_id}/ exists "
                                              "(--force, or make collect FORCE=1, replaces it)"))
        self.transferred = collected_data
        super()._transfer_files(collected_data)


def _time(ts):
    return f"{ts:%Y-%m-%d %H:%M:%S} UTC" if ts else "no time"


def guess_assignment(zip_path, course):
    """The assignment whose notebook name the zip's files end with most often, or None."""
    names = sorted(p.name for p in (Path(course) / "assignments").iterdir()
                   if (p / f"{p.name}.ipynb").is_file()) if (Path(course) / "assignments") \
        .is_dir() else []
    with zipfile.ZipFile(zip_path) as z:
        entries = [i.filename for i in z.infolist() if not i.is_dir()]
    counts = {n: sum(bool(re.search(rf"(^|[_/]){re.escape(n)}(-\d+)?\.ipynb$", e))
                     for e in entries) for n in names}
    best = max(counts.values(), default=0)
    found = [n for n, k in counts.items() if k == best and k]
    return found[0] if len(found) == 1 else None


def collect(zip_path, course=".", assignment=None, force=False):
    """Import an LMS download (a zip) into _grading/submitted/; a ``Report``."""
    course, zip_path = Path(course).resolve(), Path(zip_path).resolve()
    if not zipfile.is_zipfile(zip_path):
        raise ValueError(f"{zip_path} is not a zip file")
    assignment = assignment or guess_assignment(zip_path, course)
    if not assignment:
        raise ValueError(f"cannot tell which assignment {zip_path.name} holds: name it "
                         "(--assignment ps1, or make collect ASSIGNMENT=ps1)")
    report = Report(assignment)
    downloaded = course / GRADING / "downloaded"  # ZipCollectApp.downloaded_directory
    shutil.rmtree(downloaded / assignment, ignore_errors=True)  # a fresh run per download
    archive = downloaded / assignment / "archive"
    archive.mkdir(parents=True)
    shutil.copy(zip_path, archive / zip_path.name)
    app = ReportingZipCollectApp()
    errors = io.StringIO()
    handlers = [logging.StreamHandler(errors),
                logging.FileHandler(downloaded / assignment / "zip_collect.log")]
    handlers[0].setLevel(logging.ERROR)
    handlers[1].setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    # relative to the course: nbgrader joins the course root and it before formatting
    argv = [assignment, f"--ZipCollectApp.downloaded_directory={GRADING}/downloaded"]
    cwd = os.getcwd()
    os.chdir(course)  # nbgrader reads nbgrader_config.py from the working folder
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            app.initialize(argv + (["--ZipCollectApp.force=True", "--ExtractorPlugin.force=True"]
                                   if force else []))
            for h in list(app.log.handlers):  # its log goes to the file, not the terminal
                app.log.removeHandler(h)
            for h in handlers:
                app.log.addHandler(h)
            app.start()
    except SystemExit:  # nbgrader's fail(): it logged why
        report.error = errors.getvalue().strip() or "see its log"
    finally:
        os.chdir(cwd)
        for h in handlers:
            app.log.removeHandler(h)
            h.close()
    report.log = downloaded / assignment / "zip_collect.log"
    for sid, d in sorted(getattr(app, "transferred", {}).items()):
        for src, nb in zip(d["src_files"], d["file_ids"], strict=True):
            report.placed.append((sid, nb, _time(d["timestamp"]), app.inside(src)))
    report.skipped = sorted((app.inside(src), why) for src, why in getattr(app, "unplaced", []))
    return report
