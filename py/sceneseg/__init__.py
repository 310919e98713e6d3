"""SceneSeg: semantic segmentation of photos with SegFormer (ADE20K), on the user's device.

This package's top level is the browser's room: the same modules run in CPython (native
onnxruntime) and in Pyodide (onnxruntime-web through the JS bridge). Import cost matters in
the browser, so this file imports nothing heavy; use the submodules:

- ``sceneseg.model``       labels, colours and preprocessing settings of a model
- ``sceneseg.processing``  decode + preprocess, the Hugging Face ``SegformerImageProcessor`` steps
- ``sceneseg.postprocess`` exact full-resolution argmax of bilinearly upsampled logits
- ``sceneseg.confidence``  each pixel's softmax probability, within a bound (planned per cell in
  ``sceneseg.confidence_plan``)
- ``sceneseg.backends``    where the network runs (native onnxruntime, onnxruntime-web)
- ``sceneseg.pipeline``    ``Segmenter``: bytes in, ``Segmentation`` out
- ``sceneseg.outputs``     every file SceneSeg writes (PNGs, masks zip, summary JSON, class shares)
- ``sceneseg.threshold``   the confidence threshold of exports and summaries
- ``sceneseg.video``, ``sceneseg.batch_zip``, ``sceneseg.browser``  the web worker's entries
- ``sceneseg.tools``       the CPython tools (CLI, folders, Ray, eval, quantize, export,
  manifests, native backend): a room the browser never imports
"""

__version__ = "0.1.0"
