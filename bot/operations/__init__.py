"""Operator tools beside the running bot: the doctor (`check`), feedback and usage reports, the audit
log, and people's data on request."""
