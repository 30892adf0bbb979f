from django.conf import settings

from opus import practice as practices


def practice(request):
    current = practices.current()
    return {
        "practice": current,
        "practice_name": current.name,
        "dev_mailbox_enabled": settings.DEV_MAILBOX_ENABLED,
    }
