"""Talking to an org: building the Metadata API package, deploying, coverage, doctor checks.

Nothing here knows about click; the commands in ``jtel_sf.commands`` call these functions.
"""
