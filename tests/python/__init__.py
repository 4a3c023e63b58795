"""Tests of switchyard's Python runtime client (environments/python)."""
