"""Class colours: ADE20K's palette for ADE20K models, Cityscapes' for Cityscapes models, and
for any other label set a generated one (``palette_for`` picks by the labels' names).

The ADE20K palette of the ADE20K scene-parsing benchmark as used by CSAIL's
semantic-segmentation-pytorch and MMSegmentation, so overlays look like the ones people
already know. It is fixed (not generated) so that a colour means the same class in every
image, session and download. Known quirk kept for compatibility: classes 6 (road) and 48
(skyscraper) share (140, 140, 140); the legend and hover always name the class.
"""

ADE20K_PALETTE: tuple[tuple[int, int, int], ...] = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3),
    (120, 120, 80), (140, 140, 140), (204, 5, 255), (230, 230, 230), (4, 250, 7),
    (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70), (8, 255, 51),
    (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3),
    (0, 102, 200), (61, 230, 250), (255, 6, 51), (11, 102, 255), (255, 7, 71),
    (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92), (112, 9, 255),
    (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7),
    (255, 122, 8), (0, 255, 20), (255, 8, 41), (255, 5, 153), (6, 51, 255),
    (235, 12, 255), (160, 150, 20), (0, 163, 255), (140, 140, 140), (250, 10, 15),
    (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0),
    (0, 0, 255), (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255),
    (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255), (0, 255, 112),
    (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0),
    (0, 143, 255), (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173),
    (10, 0, 255), (173, 255, 0), (0, 255, 153), (255, 92, 0), (255, 0, 255),
    (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20), (255, 184, 184),
    (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194),
    (0, 255, 82), (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255),
    (0, 122, 255), (0, 255, 163), (255, 153, 0), (0, 255, 10), (255, 112, 0),
    (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170),
    (133, 0, 255), (0, 255, 92), (184, 0, 255), (255, 0, 31), (0, 184, 255),
    (0, 214, 255), (255, 0, 112), (92, 255, 0), (0, 224, 255), (112, 224, 255),
    (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0), (255, 0, 163),
    (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235),
    (245, 0, 255), (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0),
    (0, 204, 255), (20, 0, 255), (255, 255, 0), (0, 153, 255), (0, 41, 255),
    (0, 255, 204), (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255),
    (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255), (184, 255, 0),
    (0, 133, 255), (255, 214, 0), (25, 194, 194), (102, 255, 0), (92, 0, 255),
)  # fmt: skip


# Cityscapes' 19 evaluation classes (trainIds 0..18) and their standard colours (cityscapesScripts
# labels.py), as in nvidia/segformer-*-finetuned-cityscapes-1024-1024's config.json.
CITYSCAPES_LABELS: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip
CITYSCAPES_PALETTE: tuple[tuple[int, int, int], ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)  # fmt: skip

LABEL_SETS = ("ade20k", "cityscapes", "custom")


def _normal(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def label_set(labels: tuple[str, ...]) -> str:
    """'ade20k' (150 classes), 'cityscapes' (its 19 classes by name, in trainId order), or
    'custom'."""
    if len(labels) == len(ADE20K_PALETTE):
        return "ade20k"
    if tuple(_normal(n) for n in labels) == CITYSCAPES_LABELS:
        return "cityscapes"
    return "custom"


def generated_palette(count: int) -> tuple[tuple[int, int, int], ...]:
    """``count`` colours far apart: farthest-point picks in CIELAB among an 8-level RGB grid
    (very dark and very light ones left out, so that every colour shows over a photo and the
    overlay's transparent pixels). Deterministic: the same colours in every session."""
    import numpy as np

    levels = np.linspace(0, 255, 8).round()
    rgb = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    lab = _lab(rgb)
    keep = (lab[:, 0] > 25) & (lab[:, 0] < 92)
    rgb, lab = rgb[keep], lab[keep]
    if count > len(rgb):
        raise ValueError(f"{count} classes: at most {len(rgb)} generated colours")
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    picked = [int(np.argmax(chroma))]
    distance = np.linalg.norm(lab - lab[picked[0]], axis=1)
    while len(picked) < count:
        nxt = int(np.argmax(distance))
        picked.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(lab - lab[nxt], axis=1))
    return tuple(tuple(int(v) for v in rgb[i]) for i in picked)


def _lab(rgb):
    """sRGB (0..255) -> CIELAB (D65)."""
    import numpy as np

    c = rgb / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array(
        [[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]]
    )
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1
    )


def palette_for(labels: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    """One colour per class: ADE20K's, Cityscapes', or generated (see ``label_set``)."""
    kind = label_set(labels)
    if kind == "ade20k":
        return ADE20K_PALETTE
    if kind == "cityscapes":
        return CITYSCAPES_PALETTE
    return generated_palette(len(labels))
