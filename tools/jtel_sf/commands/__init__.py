"""Click commands: thin wrappers over the plain functions in the package."""
