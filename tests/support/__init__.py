"""Helpers the test modules share: plain functions, constants and classes, one
module per topic. Fixtures live in the conftest.py files; no test module and no
conftest imports from a test module or another conftest (the guard is in
tests/foundation/test_architecture.py)."""
