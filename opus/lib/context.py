from django.conf import settings


def practice(request):
    return {
        "practice_name": settings.OPUS_PRACTICE_NAME,
        "dev_mailbox_enabled": settings.DEV_MAILBOX_ENABLED,
    }
