import os

from django.http import HttpResponse
from django.urls import path


def index(request):
    return HttpResponse(f"hello from pid {os.getpid()}\n")


urlpatterns = [path("", index)]
