"""build.py's parts, one module a job (build.py's docstring says what goes into dist/).

    common.py             the checkout's root, BuildError, log, files taken from node_modules
    pyodide_files.py      vendor/pyodide/: Pyodide's core, the wheels, their bytecode
    python_trim.py        the stdlib zip and wheels cut to what the page imports (the trace's
                          scripts, run in Pyodide under Node, are in pyodide_trim/)
    onnxruntime_files.py  vendor/onnxruntime-web/: the files of each backend
    model_files.py        models/<id>/: the model files and the site's own manifest.json
    service_worker.py     sw.js and its precache list; the build's version
    assemble.py           dist/ as a whole: web/ copied, the parts added, swapped in atomically
    server.py             the static server (--serve): MIME types, gzip, COOP/COEP headers

Standard library and sceneseg.tools.manifest only: build.py runs before anything is installed.
Not part of the sceneseg wheel (pyproject.toml includes sceneseg* only).
"""
