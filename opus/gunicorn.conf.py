"""gunicorn in production: docker-compose.yml and the Dockerfile run
``gunicorn opus.wsgi --config opus/gunicorn.conf.py`` (options on the command
line override these). tests/foundation/test_log_privacy.py runs that command."""

bind = ["0.0.0.0:8000"]
workers = 3
timeout = 30
control_socket = "/tmp/gunicorn.ctl"  # noqa: S108 - gunicorn 27's control socket, in the container
# The access log on stdout, redacted like every other log of Opus.
accesslog = "-"
logger_class = "opus.lib.access_log.RedactingLogger"
