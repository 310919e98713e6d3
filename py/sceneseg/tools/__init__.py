"""The CPython tools: everything SceneSeg runs outside the browser. The browser's room is the
rest of ``sceneseg`` (decode, pipeline, outputs, video, batch zip, the worker's entry), which
never imports this package; the site's wheel ships without it (py/sitebuild/python_trim.py
refuses a trace that reaches it).

- ``cli``            ``python -m sceneseg`` / the ``sceneseg`` command: photos, ``eval``, ``export``
- ``model_options``  the model options shared by the CLI and build.py
- ``batch``          folders of photos (``--out-dir``); ``parallel``: processes and Ray
- ``eval``           accuracy on annotated photos
- ``quantize``       8-bit and float16 files and their report (``python -m sceneseg.quantize``)
- ``export``         a SegFormer checkpoint -> ONNX files + manifest (issue 15)
- ``manifest``       model manifests: files, sizes, sha256, download (stdlib only: build.py
  imports it before anything is installed)
- ``native``         the native onnxruntime backend
"""
