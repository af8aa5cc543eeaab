"""The browser fixtures of test_browser.py, for every test module in this folder."""

from tests.browser.test_browser import browser, pages  # noqa: F401
