"""gunicorn's logger in production (opus/gunicorn.conf.py): its access and error
logs go through the redaction of Django's logs (opus.lib.logging), whatever
``access_log_format`` says: no query string (searches carry emails and phone
numbers), no card-link token in a path or a Referer, no cookie."""

from gunicorn.glogging import Logger

from opus.lib.logging import RedactSecretsFilter, redact

_SECRET_HEADERS = ("{cookie}i", "{authorization}i", "{set-cookie}o")


class RedactingLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(each, RedactSecretsFilter) for each in log.filters):
                log.addFilter(RedactSecretsFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str):
                atoms[key] = redact(value)
        atoms["q"] = ""  # the bare query string
        for header in _SECRET_HEADERS:
            if header in atoms:
                atoms[header] = "[redacted]"
        return atoms
