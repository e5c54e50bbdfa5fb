import hashlib

from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt


def json_view(request, number):
    return JsonResponse(
        {
            'number': number,
            'method': request.method,
            'path': request.path,
            'path_info': request.path_info,
            'script_name': request.META.get('SCRIPT_NAME'),
            'query': request.GET.getlist('q'),
            'reverse': reverse('json', args=[number]),
            'header': request.headers.get('X-Test-Header'),
            'host': request.get_host(),
        }
    )


@csrf_exempt
def form_view(request):
    upload = request.FILES.get('attachment')
    data = {'name': request.POST.get('name'), 'colors': request.POST.getlist('color')}
    if upload is not None:
        content = b''.join(upload.chunks())
        data['attachment'] = {'name': upload.name, 'size': len(content), 'sha256': hashlib.sha256(content).hexdigest()}
    return JsonResponse(data)


def protected_form_view(request):
    """Not csrf_exempt: a POST without a token is refused by the CSRF middleware."""
    return HttpResponse('should not get here')


@csrf_exempt
def body_view(request):
    body = request.body
    return JsonResponse({'size': len(body), 'sha256': hashlib.sha256(body).hexdigest()})


def stream_view(request):
    count = int(request.GET.get('count', '5'))
    return StreamingHttpResponse((f'django line {i}\n' for i in range(count)), content_type='text/plain')


def file_view(request):
    return FileResponse(open(request.GET['path'], 'rb'), content_type='application/octet-stream')  # noqa: SIM115


def error_view(request):
    raise RuntimeError('django view failed')
