"""The counter moved to opus/lib/ratelimit.py, shared with the invitation link and
the password reset."""

from opus.lib.ratelimit import failures, is_blocked, record_failure

__all__ = ["failures", "is_blocked", "record_failure"]
