from django.contrib import admin

from frontdesk.models import Transfer

admin.site.register(Transfer)
