"""Helpers for applications served by granian (see `granian.utils.proxies`)."""
