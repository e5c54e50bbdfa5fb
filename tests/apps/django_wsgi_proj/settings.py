"""Settings of the WSGI test Django project: no database, no templates, CSRF middleware on."""

SECRET_KEY = 'tests-only-not-a-secret'
DEBUG = False
ALLOWED_HOSTS = ['*']
ROOT_URLCONF = 'django_wsgi_proj.urls'
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
]
DATABASES: dict[str, dict] = {}
USE_TZ = True
# Small enough that the upload test goes through a temporary file, not memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
