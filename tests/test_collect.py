"""Hand-in from an LMS (issue 11): `make collect ZIP=...` runs nbgrader's zip_collect.

Each test builds an LMS download here, a zip in Canvas's or Moodle's naming, with the
cases an instructor meets: a misnamed notebook, a file that is not a notebook, a name in
no LMS's form, and one student's duplicate late submission (the later one wins, by the
time stored with each file in the zip). The notebooks must land in
``_grading/submitted/<student>/<ps>/<ps>.ipynb`` with nbgrader's ``timestamp.txt``, and
every other file must be reported with its reason.
"""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from bpcourse.grading import collect as lms

ROOT = Path(__file__).resolve().parents[1]
NB = (ROOT / "assignments" / "ps1" / "ps1.ipynb").read_bytes()
EARLY, LATE, OTHER = (2026, 11, 28, 10, 0, 0), (2026, 11, 30, 9, 15, 0), (2026, 11, 28, 11, 0, 0)


def _version(tag):
    """The release notebook, made recognisable (JSON allows trailing white space)."""
    return NB + b"\n" * tag


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as z:
        for name, data, when in entries:
            z.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


@pytest.fixture
def course(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "assignments", course / "assignments")
    return course


def _submitted(course):
    root = course / "_grading" / "submitted"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _reasons(report):
    return dict(report.skipped)


def test_canvas_download(course, tmp_path):
    """Canvas: the late copy wins, the misnamed notebook and the others are reported."""
    z = _zip(tmp_path / "submissions.zip", [
        ("doejane_12345_6789012_ps1.ipynb", _version(1), EARLY),
        ("doejane_LATE_12345_6789999_ps1-1.ipynb", _version(2), LATE),  # handed in again
        ("smithbob_23456_6790000_ps1-final.ipynb", _version(3), OTHER),  # misnamed
        ("leeann_34567_6790001_ps1.ipynb", _version(4), OTHER),
        ("leeann_34567_6790001_scratch.py", b"print(1)\n", OTHER),  # not a notebook
        ("ps1.ipynb", _version(5), OTHER),  # no LMS name: whose is it?
    ])
    report = lms.collect(z, course)
    assert report.assignment == "ps1" and not report.error
    assert _submitted(course) == ["doejane/ps1/ps1.ipynb", "doejane/ps1/timestamp.txt",
                                  "leeann/ps1/ps1.ipynb", "leeann/ps1/timestamp.txt"]
    sub = course / "_grading" / "submitted"
    assert (sub / "doejane" / "ps1" / "ps1.ipynb").read_bytes() == _version(2), \
        "the later (late) submission must win"
    assert (sub / "doejane" / "ps1" / "timestamp.txt").read_text().startswith(
        "2026-11-30 09:15:00")
    assert (sub / "leeann" / "ps1" / "ps1.ipynb").read_bytes() == _version(4)
    why = _reasons(report)
    assert set(why) == {"doejane_12345_6789012_ps1.ipynb", "smithbob_23456_6790000_ps1-final.ipynb",
                        "leeann_34567_6790001_scratch.py", "ps1.ipynb"}, report.lines()
    assert why["doejane_12345_6789012_ps1.ipynb"].startswith("an older copy: doejane handed in "
                                                             "doejane_LATE_12345_6789999")
    assert why["smithbob_23456_6790000_ps1-final.ipynb"].startswith(
        "misnamed: ps1-final.ipynb is not a notebook of ps1 (expected ps1.ipynb)")
    assert why["leeann_34567_6790001_scratch.py"] == "not a notebook (.py)"
    assert why["ps1.ipynb"].startswith("its name is in neither Canvas's form")
    text = "\n".join(report.lines())
    assert "collected 2 submission(s) of ps1" in text and "not placed: 4 file(s)" in text


def test_moodle_download_in_folders_and_flat(course, tmp_path):
    """Moodle: both layouts; names become ids; a later duplicate wins, in any order."""
    z = _zip(tmp_path / "BP-ps1-42.zip", [
        ("Jane Doe_4242_assignsubmission_file_/ps1.ipynb", _version(2), LATE),  # later first
        ("Jane Doe_4242_assignsubmission_file_ps1.ipynb", _version(1), EARLY),
        ("Bob Smith_4243_assignsubmission_file_/PS1.ipynb", _version(3), OTHER),  # misnamed
        ("Ann Lee_4244_assignsubmission_onlinetext_onlinetext.html", b"<p>hi</p>", OTHER),
        ("Émile Zola_4245_assignsubmission_file_ps1.ipynb", _version(4), OTHER),
    ])
    report = lms.collect(z, course, assignment="ps1")
    assert not report.error, report.error
    placed = {s: src for s, _, _, src in report.placed}
    assert placed == {"jane-doe": "Jane Doe_4242_assignsubmission_file_/ps1.ipynb",
                      "émile-zola": "Émile Zola_4245_assignsubmission_file_ps1.ipynb"}
    sub = course / "_grading" / "submitted"
    assert (sub / "jane-doe" / "ps1" / "ps1.ipynb").read_bytes() == _version(2)
    why = _reasons(report)
    assert why["Jane Doe_4242_assignsubmission_file_ps1.ipynb"].startswith("an older copy")
    assert why["Bob Smith_4243_assignsubmission_file_/PS1.ipynb"].startswith(
        "misnamed: PS1.ipynb")
    assert why["Ann Lee_4244_assignsubmission_onlinetext_onlinetext.html"] == \
        "not a notebook (.html)"


def test_second_download_and_force(course, tmp_path):
    """A student collected before is left alone (and said so) unless --force."""
    first = _zip(tmp_path / "a.zip", [("doejane_12345_1_ps1.ipynb", _version(1), EARLY)])
    second = _zip(tmp_path / "b.zip", [("doejane_12345_2_ps1.ipynb", _version(2), LATE),
                                       ("leeann_34567_3_ps1.ipynb", _version(3), LATE)])
    lms.collect(first, course)
    report = lms.collect(second, course)
    nb = course / "_grading" / "submitted" / "doejane" / "ps1" / "ps1.ipynb"
    assert nb.read_bytes() == _version(1)
    assert _reasons(report)["doejane_12345_2_ps1.ipynb"].startswith("already collected")
    assert [p[0] for p in report.placed] == ["leeann"]
    report = lms.collect(second, course, force=True)
    assert nb.read_bytes() == _version(2) and not report.skipped


def test_two_users_one_name(course, tmp_path):
    """Two LMS users whose names give one id: the second is refused, not merged."""
    z = _zip(tmp_path / "s.zip", [("doejane_12345_1_ps1.ipynb", _version(1), EARLY),
                                  ("doejane_99999_2_ps1.ipynb", _version(2), LATE)])
    report = lms.collect(z, course)
    assert [p[0] for p in report.placed] == ["doejane"]
    nb = course / "_grading" / "submitted" / "doejane" / "ps1" / "ps1.ipynb"
    assert nb.read_bytes() == _version(1), "another user's file must not replace it"
    assert "two LMS users give the student id 'doejane'" in _reasons(report)[
        "doejane_99999_2_ps1.ipynb"]


def test_which_assignment(course, tmp_path):
    assert lms.guess_assignment(_zip(tmp_path / "x.zip", [
        ("a_1_2_ps2.ipynb", b"{}", EARLY), ("b_3_4_ps2-1.ipynb", b"{}", EARLY),
        ("c_5_6_ps1.ipynb", b"{}", EARLY)]), course) == "ps2"
    with pytest.raises(ValueError, match="cannot tell which assignment"):
        lms.collect(_zip(tmp_path / "y.zip", [("notes.txt", b"", EARLY)]), course)


def test_configured_regexp_reads_both_namings():
    """The regex is nbgrader's (nbgrader_config.py), and reads the documented examples."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    regexp = config.FileNameCollectorPlugin.named_regexp
    assert config.ZipCollectApp.strict is True
    assert config.ZipCollectApp.collector_plugin.endswith("collect.LMSCollector")
    readme = (ROOT / "assignments" / "README.md").read_text()
    for name, who in [(lms.CANVAS_EXAMPLE, "doejane"), (lms.MOODLE_EXAMPLE, "Jane Doe"),
                      ("doejane_LATE_12345_6789012_ps1-1.ipynb", "doejane"),
                      ("Jane Doe_4242_assignsubmission_file_/ps1.ipynb", "Jane Doe")]:
        assert name in readme, f"assignments/README.md does not show {name}"
        m = re.match(regexp, "/tmp/x/ps1/extracted/dl/" + name)
        assert m and m["student_id"] == who and m["file_id"] == "ps1", name


def test_command_line_and_make(course, tmp_path):
    """`python -m bpcourse.grading collect` prints the report; `make collect` calls it."""
    z = _zip(tmp_path / "submissions.zip", [("doejane_12345_1_ps1.ipynb", NB, EARLY),
                                            ("smithbob_2_3_ps1 (1).ipynb", NB, EARLY)])
    run = subprocess.run([sys.executable, "-m", "bpcourse.grading", "--course", str(course),
                          "collect", str(z)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "collected 1 submission(s) of ps1" in run.stdout
    assert "smithbob_2_3_ps1 (1).ipynb: misnamed: ps1 (1).ipynb" in run.stdout
    assert "[WARNING]" not in run.stdout + run.stderr, "nbgrader's log belongs in its file"
    assert "Skipped notebook with invalid name" in (
        course / "_grading" / "downloaded" / "ps1" / "zip_collect.log").read_text()
    dry = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "collect", "ZIP=dl.zip",
                          "ASSIGNMENT=ps1", "FORCE=1"], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"python -m bpcourse\.grading collect \"?dl\.zip\"?[\s\\]+--assignment "
                     r"ps1\s+--force", dry.stdout), dry.stdout
    usage = subprocess.run(["make", "-s", "-C", str(ROOT), "collect"], capture_output=True,
                           text=True)
    assert usage.returncode != 0 and "usage: make collect ZIP=" in usage.stderr


def test_plain_nbgrader_zip_collect_uses_the_configuration(course, tmp_path):
    """`nbgrader zip_collect ps1` alone (no bpcourse command) reads the same settings."""
    archive = course / "_grading" / "downloaded" / "ps1" / "archive"
    archive.mkdir(parents=True)
    _zip(archive / "submissions.zip", [("doejane_12345_1_ps1.ipynb", _version(1), EARLY),
                                       ("doejane_LATE_12345_2_ps1.ipynb", _version(2), LATE)])
    run = subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", "ps1"], cwd=course,
                         capture_output=True, text=True, timeout=120,
                         env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    sub = course / "_grading" / "submitted" / "doejane" / "ps1"
    assert (sub / "ps1.ipynb").read_bytes() == _version(2)
    assert (sub / "timestamp.txt").read_text().startswith("2026-11-30 09:15:00")
