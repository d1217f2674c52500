"""Offline Apex verification (`jtel-sf verify`): syntax, semantics, PMD, formatting, metadata."""
