import asyncio
import hashlib

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt


async def json_view(request, number):
    return JsonResponse(
        {
            'number': number,
            'double': number * 2,
            'method': request.method,
            'path': request.path,
            'path_info': request.path_info,
            'script_name': request.META.get('SCRIPT_NAME'),
            'query': request.GET.getlist('q'),
            'reverse': reverse('json', args=[number]),
            'header': request.headers.get('X-Test-Header'),
        }
    )


@csrf_exempt
async def form_view(request):
    if request.method != 'POST':
        return HttpResponse(status=405)
    upload = request.FILES.get('attachment')
    data = {
        'name': request.POST.get('name'),
        'colors': request.POST.getlist('color'),
    }
    if upload is not None:
        content = b''.join(upload.chunks())
        data['attachment'] = {
            'name': upload.name,
            'size': len(content),
            'sha256': hashlib.sha256(content).hexdigest(),
        }
    return JsonResponse(data)


async def protected_form_view(request):
    """Not csrf_exempt: a POST without a token is refused by the CSRF middleware."""
    return HttpResponse('should not get here')


async def lines(count):
    for i in range(count):
        yield f'django line {i}\n'
        await asyncio.sleep(0)


async def stream_view(request):
    count = int(request.GET.get('count', '5'))
    return StreamingHttpResponse(lines(count), content_type='text/plain')


def sync_view(request):
    """A plain sync view: Django runs it in a thread under ASGI."""
    return HttpResponse(f'sync view says {request.GET.get("word", "hi")}', content_type='text/plain')
