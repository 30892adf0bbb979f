from django.urls import path

from opus.urls import urlpatterns as opus_urlpatterns


def boom(request):
    raise RuntimeError("forced failure for the 500 test")


urlpatterns = [path("boom/", boom), *opus_urlpatterns]
