"""Operational tooling around pinrelay: the provider simulator, deploy files, runbooks."""
