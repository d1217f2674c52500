"""Fakes of the Salesforce side, each built from Salesforce's documentation, not recorded."""
