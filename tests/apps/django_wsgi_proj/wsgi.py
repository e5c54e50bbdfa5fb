"""WSGI entry point of the test Django project: `django_wsgi_proj.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'django_wsgi_proj.settings')

application = get_wsgi_application()
