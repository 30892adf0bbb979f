from django.contrib import admin

from devkit.models import DevMail

admin.site.register(DevMail)
