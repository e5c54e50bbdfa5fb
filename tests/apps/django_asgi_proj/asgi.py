"""ASGI entry point of the test Django project: `django_asgi_proj.asgi:application`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'django_asgi_proj.settings')

application = get_asgi_application()
