"""Loaded with ``-p tests.plugins.failing_report`` into a benchmark run: its report raises, as a bug
in a report section would, so a test can check that the measurements are saved all the same."""

import bench.report


def _broken_report(*args, **kwargs):
    raise RuntimeError("injected report failure")


bench.report.write_report = _broken_report
