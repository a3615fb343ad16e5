"""Rule test results as text (people), JUnit XML (GitLab, Jenkins and GitHub test reporters)
or GitHub Actions annotations, like `opsc validate --format github`."""
from __future__ import annotations

from typing import Sequence
from xml.etree import ElementTree as ET

from ..config.report import github_escape as _escape
from .runner import TestResult

FORMATS = ("text", "junit", "github")


def summary(results: Sequence[TestResult]) -> str:
    passed = sum(r.passed for r in results)
    return f"{passed} passed, {len(results) - passed} failed"


def render(results: Sequence[TestResult], fmt: str, *, verbose: bool = False, root: str = "") -> str:
    if fmt == "junit":
        return junit(results)
    if fmt == "github":
        lines = [_github(r, root) for r in results if not r.passed]
        return "\n".join([*lines, summary(results)])
    lines = [r.format(verbose) for r in results if verbose or not r.passed]
    return "\n".join([*lines, summary(results)])


def junit(results: Sequence[TestResult]) -> str:
    suites = ET.Element("testsuites", name="opsc test", tests=str(len(results)),
                        failures=str(sum(not r.passed for r in results)))
    by_file: dict[str, list[TestResult]] = {}
    for r in results:
        by_file.setdefault(r.test.source.file, []).append(r)
    for file, group in by_file.items():
        suite = ET.SubElement(suites, "testsuite", name=file, tests=str(len(group)),
                              failures=str(sum(not r.passed for r in group)), errors="0", skipped="0")
        for r in group:
            case = ET.SubElement(suite, "testcase", name=r.test.name, classname=file.removesuffix(".yaml").replace("/", "."),
                                 file=file, line=str(r.test.source.line))
            if not r.passed:
                failure = ET.SubElement(case, "failure", message=r.failure or "", type="expectation")
                failure.text = "\n".join([f"{r.where}: {r.failure}", "", "timeline (simulated time):", *r.timeline])
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def _github(r: TestResult, root: str) -> str:
    path = f"{root.rstrip('/')}/{r.test.source.file}" if root and root not in (".", "./") else r.test.source.file
    props = f"file={_escape(path, True)},line={max(r.test.source.line, 1)},title={_escape('opsc test: ' + r.test.name, True)}"
    return f"::error {props}::{_escape(r.failure or '')}"
