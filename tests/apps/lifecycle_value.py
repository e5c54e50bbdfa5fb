"""Rewritten by the lifecycle tests (in a temp copy) to check that new code is loaded."""

VALUE = 'initial'
