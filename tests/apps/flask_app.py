"""A Flask application served over WSGI by the end-to-end tests (test_wsgi_frameworks.py)."""

import hashlib
import time

from flask import Flask, Response, jsonify, request, send_file, stream_with_context, url_for

app = Flask(__name__)


@app.get('/json')
def json_get():
    return jsonify(
        message='hello',
        args=request.args.getlist('q'),
        script_root=request.script_root,
        path=request.path,
        url=url_for('json_get', _external=False),
        remote_addr=request.remote_addr,
    )


@app.post('/json')
def json_post():
    data = request.get_json()
    return jsonify(received=data, length=request.content_length)


@app.post('/form')
def form():
    out = {'name': request.form.get('name'), 'colors': request.form.getlist('color')}
    upload = request.files.get('attachment')
    if upload is not None:
        h = hashlib.sha256()
        size = 0
        while chunk := upload.stream.read(65536):
            h.update(chunk)
            size += len(chunk)
        out['attachment'] = {'name': upload.filename, 'size': size, 'sha256': h.hexdigest()}
    return jsonify(out)


@app.get('/stream')
def stream():
    count = int(request.args.get('count', '5'))
    delay = float(request.args.get('delay', '0'))

    def lines():
        for i in range(count):
            if i and delay:
                time.sleep(delay)
            yield f'flask line {i} for {request.path}\n'

    return Response(stream_with_context(lines()), mimetype='text/plain')


@app.get('/file')
def file():
    return send_file(request.args['path'], mimetype='application/octet-stream', conditional=True, etag=True)


@app.get('/error')
def error():
    raise RuntimeError('flask view failed')
