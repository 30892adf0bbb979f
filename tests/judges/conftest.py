"""The judges that drive a browser launch the system Chromium as the browser tests do."""

from tests.support.browser_setup import browser_context_args, browser_type_launch_args

__all__ = ["browser_context_args", "browser_type_launch_args"]
