"""Tests for tactful."""
