"""Shared pytest bits: `report` lines are printed in the terminal summary, so they show even without -s."""
import pytest

_LINES = []

@pytest.fixture(scope='session')
def report():
    "Call report('text') to print a line in pytest's summary at the end of the run."
    return _LINES.append

def pytest_terminal_summary(terminalreporter):
    if _LINES:
        terminalreporter.section('ddpm_book checks')
        for line in _LINES: terminalreporter.write_line(line)
