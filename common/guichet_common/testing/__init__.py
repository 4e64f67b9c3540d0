"""Test support shared by every service's tests (pytest plugin in plugin.py)."""
