"""SceneSeg: semantic segmentation of photos with SegFormer (ADE20K), on the user's device.

The same modules run in CPython (native onnxruntime) and in Pyodide (onnxruntime-web through
the JS bridge). Import cost matters in the browser, so this file imports nothing heavy; use
the submodules:

- ``sceneseg.model``       labels, colours and preprocessing settings of a model
- ``sceneseg.processing``  decode + preprocess, the Hugging Face ``SegformerImageProcessor`` steps
- ``sceneseg.postprocess`` exact full-resolution argmax of bilinearly upsampled logits
- ``sceneseg.confidence``  each pixel's softmax probability, within a bound (planned per cell in
  ``sceneseg.confidence_plan``)
- ``sceneseg.backends``    where the network runs (native onnxruntime, onnxruntime-web)
- ``sceneseg.pipeline``    ``Segmenter``: bytes in, ``Segmentation`` out
- ``sceneseg.exports``     a ``Segmentation`` as files (PNG, zip, JSON)
- ``sceneseg.threshold``   the confidence threshold of exports and summaries
- ``sceneseg.manifest``    model manifests: files, sizes, sha256, download (stdlib only)
"""

__version__ = "0.1.0"
