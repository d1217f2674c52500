"""jtel-sf: tooling for the jtel ACD writeCallStatistics Apex REST endpoint."""

__version__ = "0.1.0"
