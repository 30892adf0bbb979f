from django.urls import URLPattern, URLResolver, get_resolver

# Routes that answer without a login.
PUBLIC_ROUTES = {
    "login",
    "login-code",
    "healthz",
    "billing:card-link",
    "billing:pay-link",
    "billing:stripe-webhook",
    "billing:payment-confirm",
    "accept-invitation",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
}


def walk(resolver=None, prefix="", namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", prefix + str(entry.pattern), entry.pattern.converters


def app_routes():
    return [(name, converters) for name, _, converters in walk() if not name.startswith("admin:")]
